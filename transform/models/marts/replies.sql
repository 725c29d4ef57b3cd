-- analytics.replies: every reply from every provider, one row each, one vocabulary
-- (macros/classification.sql). Key: workspace, provider, reply_id. A plain union of the
-- providers' intermediate models (models/intermediate/int_<provider>__replies.sql): a provider
-- adds its model and one line here.
select * from {{ ref('int_leadterra__replies') }}
union all
select * from {{ ref('int_smartlead__replies') }}
union all
select * from {{ ref('int_tuco__replies') }}
