-- analytics.campaign_reply_rates: per campaign, how many replies and how many of them positive.
--
-- positive_rate = interested replies / all replies. Smartlead campaigns also get their name and
-- their lead count (so positive replies per lead is there too); other providers send no names.

WITH
per_campaign AS (
    SELECT
        provider,
        campaign_id,
        count(*) AS replies,
        count(*) FILTER (WHERE classification = 'interested') AS interested,
        count(*) FILTER (WHERE classification IN ('not_interested', 'unsubscribe')) AS negative,
        max(received_at) AS last_reply_at
    FROM analytics.replies
    WHERE campaign_id IS NOT NULL
    GROUP BY provider, campaign_id
),

smartlead_leads AS (
    SELECT CAST(campaign_id AS VARCHAR) AS campaign_id, count(*) AS leads
    FROM src_smartlead_campaign_leads
    GROUP BY 1
)

SELECT
    p.provider,
    p.campaign_id,
    c.name AS campaign_name,
    l.leads,
    p.replies,
    p.interested,
    p.negative,
    round(p.interested / p.replies, 4) AS positive_rate,
    CASE WHEN l.leads > 0 THEN round(p.interested / l.leads, 4) END AS positive_per_lead,
    p.last_reply_at
FROM per_campaign AS p
LEFT JOIN src_smartlead_campaigns AS c
    ON p.provider = 'smartlead' AND CAST(c.id AS VARCHAR) = p.campaign_id
LEFT JOIN smartlead_leads AS l
    ON p.provider = 'smartlead' AND l.campaign_id = p.campaign_id
