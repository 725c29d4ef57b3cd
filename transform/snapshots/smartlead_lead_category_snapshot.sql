{#-
  Every category a Smartlead lead has had: a new version whenever the lead's category changes
  between builds (check strategy: the lead rows carry no change time of their own). Read by
  analytics.lead_category_history. Why a snapshot: it is dbt's own tool for history, runs on
  DuckDB, PostgreSQL and Snowflake alike, and keeps what the loader's upsert overwrites.
-#}
{% snapshot smartlead_lead_category_snapshot %}
{{ config(
    unique_key='lead_key',
    strategy='check',
    check_cols=['category_id', 'category_name'],
    hard_deletes='invalidate',
) }}
select
    {{ dbt.concat(['workspace', "'|'", 'cast(campaign_id as ' ~ dbt.type_string() ~ ')', "'|'",
                   'cast(lead_id as ' ~ dbt.type_string() ~ ')']) }} as lead_key,
    workspace,
    campaign_id,
    lead_id,
    lead_email,
    category_id,
    category_name,
    loaded_at
from {{ ref('stg_smartlead_campaign_leads') }}
{% endsnapshot %}
