-- Smartlead leads per campaign, with their current category and email stats flattened.
-- depends_on: {{ source('tap_replies', 'smartlead_campaign_leads') }}
with loaded as (
    {{ tap_replies.union_workspace_tables('smartlead_campaign_leads', {
        'campaign_id': 'integer',
        'id': 'integer',
        'email': 'string',
        'first_name': 'string',
        'last_name': 'string',
        'company_name': 'string',
        'status': 'string',
        'category_id': 'integer',
        'category_name': 'string',
        'created_at': 'timestamp',
        'last_sent_time': 'timestamp',
        'email_stats': 'json',
        '_sdc_batched_at': 'timestamp',
    }) }}
)

select
    workspace,
    campaign_id,
    id as lead_id,
    email as lead_email,
    first_name,
    last_name,
    company_name,
    status as lead_status,
    category_id,
    category_name,
    created_at,
    last_sent_time,
    cast({{ tap_replies.json_text('email_stats', 'is_opened') }} as {{ dbt.type_boolean() }}) as is_opened,
    cast({{ tap_replies.json_text('email_stats', 'is_clicked') }} as {{ dbt.type_boolean() }}) as is_clicked,
    cast({{ tap_replies.json_text('email_stats', 'is_replied') }} as {{ dbt.type_boolean() }}) as is_replied,
    cast({{ tap_replies.json_text('email_stats', 'is_bounced') }} as {{ dbt.type_boolean() }}) as is_bounced,
    _sdc_batched_at as loaded_at
from loaded
