-- What the contact policy and the message need of a batch's customers (see audience.rs `contacts`):
-- live, the channel's consent, the address on the channel, the messages of every campaign in the
-- frequency window; and only what the template names (each flag off reads nothing).
WITH p AS (
    SELECT CAST(? AS uuid[]) AS ids, CAST(? AS text) AS consent, CAST(? AS text) AS channel,
           CAST(? AS timestamptz) AS counted_since, CAST(? AS date) AS today, CAST(? AS int8) AS categories_named,
           CAST(? AS int) AS recently_bought_days, CAST(? AS bool) AS names_tier, CAST(? AS bool) AS names_points,
           CAST(? AS bool) AS names_store, CAST(? AS bool) AS names_usual, CAST(? AS bool) AS names_recommended,
           CAST(? AS text) AS sms, CAST(? AS text) AS email, CAST(? AS text) AS wechat,
           CAST(? AS text) AS active, CAST(? AS text) AS wechat_openid
)
SELECT c.id, c.status = p.active AS live,
       coalesce((c.consents -> p.consent ->> 'granted')::boolean, false) AS consented,
       CASE p.channel WHEN p.sms THEN c.phone WHEN p.email THEN c.email
                      WHEN p.wechat THEN (SELECT i.value FROM customer_identities i
                                          WHERE i.customer_id = c.id AND i.kind = p.wechat_openid
                                          ORDER BY i.created_at, i.value LIMIT 1) END AS address,
       (SELECT count(*) FROM campaign_messages cm
        WHERE cm.customer_id = c.id AND cm.created_at > p.counted_since) AS recent_messages,
       c.name,
       CASE WHEN p.names_tier THEN (SELECT t.name FROM memberships m JOIN tiers t ON t.code = m.tier_code
                                    WHERE m.customer_id = c.id) END AS tier_name,
       coalesce(CASE WHEN p.names_points THEN (SELECT pa.balance - pa.debt FROM points_accounts pa
                                               WHERE pa.customer_id = c.id) END, 0) AS points,
       CASE WHEN p.names_store THEN (SELECT s.name FROM stores s WHERE s.id = c.home_store_id) END AS store_name,
       CASE WHEN p.names_usual THEN ARRAY(SELECT cc.category FROM customer_categories cc
                                          JOIN message_categories mc ON mc.name = cc.category
                                          WHERE cc.customer_id = c.id
                                          ORDER BY cc.quantity DESC, cc.orders DESC, cc.category
                                          LIMIT p.categories_named)
            ELSE '{}' END AS usual,
       CASE WHEN p.names_recommended THEN ARRAY(SELECT cc.category FROM customer_categories cc
                                                WHERE cc.customer_id = c.id)
            ELSE '{}' END AS bought,
       CASE WHEN p.names_recommended THEN ARRAY(SELECT cc.category FROM customer_categories cc
                                                WHERE cc.customer_id = c.id
                                                  AND cc.last_bought_on > p.today - p.recently_bought_days)
            ELSE '{}' END AS bought_recently
FROM p, customers c
WHERE c.id = ANY(p.ids)
