-- analytics.followups_due_by_sdr: Leadterra's due follow-ups per SDR, overdue ones counted apart.
--
-- "Overdue" is relative to when the model was built (the build passes it in as `built_at`).

SELECT
    f.sdrid AS sdr_id,
    COALESCE(s.name, f.sdrid, '(unassigned)') AS sdr_name,
    s.email AS sdr_email,
    count(*) AS due,
    count(*) FILTER (WHERE f.dueat < b.built_at) AS overdue,
    min(f.dueat) AS next_due_at
FROM src_leadterra_followups AS f
CROSS JOIN build_info AS b
LEFT JOIN src_leadterra_sdrs AS s ON s.id = f.sdrid
WHERE f.status IS NULL OR lower(f.status) NOT IN ('completed', 'skipped', 'done', 'cancelled')
GROUP BY ALL
