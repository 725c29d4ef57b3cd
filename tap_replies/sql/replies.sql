-- analytics.replies: every reply from every provider, one row each, one vocabulary.
--
-- Reads the src_* views that tap_replies.sql.build_model() lays over the loaded stream tables
-- (target-duckdb lower-cases column names and keeps nested objects as JSON). A provider that is
-- not configured has an empty src_* view, so this query never depends on which providers exist.
--
-- classification is one of: interested, not_interested, out_of_office, bounce, unsubscribe,
-- unknown. source_classification keeps what the provider said, for anything the mapping hides.

WITH
smartlead_category_names (name_key, classification) AS (
    -- Smartlead's stock categories, and the names customers commonly add.
    VALUES
        ('interested', 'interested'),
        ('meeting request', 'interested'),
        ('meeting booked', 'interested'),
        ('information request', 'interested'),
        ('not interested', 'not_interested'),
        ('wrong person', 'not_interested'),
        ('do not contact', 'unsubscribe'),
        ('unsubscribe', 'unsubscribe'),
        ('unsubscribed', 'unsubscribe'),
        ('out of office', 'out_of_office'),
        ('ooo', 'out_of_office'),
        ('bounce', 'bounce'),
        ('bounced', 'bounce'),
        ('sender originated bounce', 'bounce')
),

labels (label, classification) AS (
    -- Leadterra's documented labels (Tuco uses them too when a reply carries one).
    VALUES
        ('interested', 'interested'),
        ('not_interested', 'not_interested'),
        ('out_of_office', 'out_of_office'),
        ('bounce', 'bounce'),
        ('unsubscribe', 'unsubscribe')
),

leadterra AS (
    SELECT
        'leadterra' AS provider,
        r.id AS reply_id,
        r.email AS lead_email,
        CAST(r.campaignid AS VARCHAR) AS campaign_id,
        CAST(r.receivedat AS TIMESTAMP) AS received_at,
        COALESCE(l.classification, 'unknown') AS classification,
        r.classification AS source_classification,
        r.threadsnippet AS snippet
    FROM src_leadterra_replies AS r
    LEFT JOIN labels AS l ON l.label = lower(trim(r.classification))
),

smartlead_replies AS (
    SELECT
        r.id,
        json_extract_string(r.lead, '$.email') AS lead_email,
        json_extract_string(r.campaign, '$.id') AS campaign_id,
        TRY_CAST(json_extract_string(r.category, '$.id') AS BIGINT) AS category_id,
        json_extract_string(r.category, '$.name') AS category_name,
        COALESCE(
            CAST(r.received_at AS TIMESTAMP),
            TRY_CAST(json_extract_string(r.last_message, '$.received_at') AS TIMESTAMP)
        ) AS received_at,
        json_extract_string(r.last_message, '$.body') AS body
    FROM src_smartlead_inbox_replies AS r
),

smartlead_leads_now AS (
    -- A lead's category as of its latest event. The inbox stream is incremental on reply time,
    -- so a reply re-categorised later is not read again; the leads stream (incremental on event
    -- time) is, so the lead's row is the current word on the category.
    SELECT
        CAST(campaign_id AS VARCHAR) AS campaign_id,
        lower(email) AS email,
        arg_max(category_id, id) AS category_id,
        arg_max(category_name, id) AS category_name
    FROM src_smartlead_campaign_leads
    WHERE email IS NOT NULL
    GROUP BY ALL
),

smartlead_categorised AS (
    SELECT
        r.*,
        CASE WHEN n.email IS NOT NULL THEN n.category_id ELSE r.category_id END
            AS current_category_id,
        CASE WHEN n.email IS NOT NULL THEN n.category_name ELSE r.category_name END
            AS current_category_name
    FROM smartlead_replies AS r
    LEFT JOIN smartlead_leads_now AS n
        ON n.campaign_id = r.campaign_id AND n.email = lower(r.lead_email)
),

smartlead AS (
    SELECT
        'smartlead' AS provider,
        r.id AS reply_id,
        r.lead_email,
        r.campaign_id,
        r.received_at,
        CASE
            WHEN by_name.classification IS NOT NULL THEN by_name.classification
            WHEN lower(c.sentiment_type) = 'positive' THEN 'interested'
            WHEN lower(c.sentiment_type) = 'negative' THEN 'not_interested'
            ELSE 'unknown'
        END AS classification,
        COALESCE(r.current_category_name, c.name) AS source_classification,
        left(r.body, 280) AS snippet
    FROM smartlead_categorised AS r
    LEFT JOIN src_smartlead_lead_categories AS c
        ON CAST(c.id AS BIGINT) = r.current_category_id
    LEFT JOIN smartlead_category_names AS by_name
        ON by_name.name_key = lower(trim(COALESCE(r.current_category_name, c.name)))
),

tuco AS (
    SELECT
        'tuco' AS provider,
        CAST(r.leadid AS VARCHAR) AS reply_id,
        r.recipientemail AS lead_email,
        -- Known when the tap read per campaign (tuco.campaign_ids); Tuco's rows name none.
        CAST(COALESCE(r.campaign_id, r.campaignid) AS VARCHAR) AS campaign_id,
        CAST(r.respondedatutc AS TIMESTAMP) AS received_at,
        COALESCE(l.classification, 'unknown') AS classification,
        CAST(COALESCE(r.classification, r.label) AS VARCHAR) AS source_classification,
        left(r.message, 280) AS snippet
    FROM src_tuco_replies AS r
    LEFT JOIN labels AS l
        ON l.label = lower(trim(CAST(COALESCE(r.classification, r.label) AS VARCHAR)))
)

SELECT * FROM leadterra
UNION ALL BY NAME
SELECT * FROM smartlead
UNION ALL BY NAME
SELECT * FROM tuco
