-- analytics.replies_by_day: replies per UTC day, provider and classification (what the dashboard
-- charts over time, and filters by workspace, provider and date range).
-- Key: workspace, provider, reply_date, classification.
select
    workspace,
    provider,
    cast(received_at as date) as reply_date,
    classification,
    count(*) as replies
from {{ ref('replies') }}
group by workspace, provider, cast(received_at as date), classification
