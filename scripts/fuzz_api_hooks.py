"""Schemathesis hooks for scripts/fuzz-api (loaded through SCHEMATHESIS_HOOKS).

They correct assumptions of the generator that do not hold for this stateful API, and nothing else:
every check still runs on every response, and each failure set aside is written to FUZZ_FILTER_LOG.

1. Fresh Idempotency-Key per request. The generator reuses the same few header values (the documented
   example, coverage boundary values) across unrelated requests. The service then rightly answers
   `422 idempotency_key_reused` (or replays an unrelated stored response) before the handler runs, which
   both looks like a rejected valid request and hides the handler from the fuzzer. A real client sends a
   new key per logical request, so each valid key gets a per-run counter appended (deterministic under a
   seed). Invalid keys (empty, too long) are left alone so the header's own validation is still fuzzed.

2. Rejections that no schema can describe. `positive_data_acceptance` (ST202) expects every request
   that matches the document to be accepted. Some rejections depend on server state or on a relation
   between parameters that OpenAPI cannot express; they are set aside only when the problem+json `code`
   (and field and message) proves it is one of these, each listed in STATE_DEPENDENT with its reason.

3. Soft deletes. `use_after_free` (ST301) expects 404 after DELETE; a DELETE in SOFT_DELETE would keep the
   record readable by design (none today).

4. Bulk rows. `negative_data_rejection` (ST201) expects a 4xx for a body that breaks the schema; the bulk
   calls in ROW_BY_ROW read each row on its own (SPEC §7: one bad row never sinks the others), so a row that
   breaks the row schema is answered in its place, inside a 200, with the problem the single call gives it.
   Set aside only when the 200 shows such a row refusal.

5. Oversized bodies. ST201 lists the 4xx it takes as a rejection and 413 is not among them, yet SPEC §2
   answers a body over the size limit with 413 before reading it (so before any schema rule could be
   applied). Set aside only when the answer is that 413 `payload_too_large`.
"""

from __future__ import annotations

import itertools
import json
import os

import schemathesis

_counter = itertools.count(1)
# Every dropped failure is written here (one JSON line each) so a run can be audited.
_FILTER_LOG = os.environ.get("FUZZ_FILTER_LOG")


def _dropped(failure, case, response, why):
    if _FILTER_LOG:
        problem = _problem(response) or {}
        with open(_FILTER_LOG, "a", encoding="utf-8") as log:
            log.write(json.dumps({
                "check": getattr(failure, "code", None),
                "operation": case.operation.label,
                "why": why,
                "status": response.status_code,
                "code": problem.get("code"),
                "errors": problem.get("errors"),
            }, ensure_ascii=False) + "\n")
    return False


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = case.headers
    if not headers:
        return
    for name in list(headers):
        if name.lower() != "idempotency-key":
            continue
        value = headers[name]
        if isinstance(value, str) and 1 <= len(value.encode("utf-8", "surrogatepass")) <= 255:
            suffix = f"~{next(_counter)}"
            headers[name] = value[: 255 - len(suffix) - 3] + suffix
    return


# Rejections of schema-valid requests that are right, and why no schema could rule them out.
# Each entry: (operation label or None for any, problem code, field or None, part of the message or None).
STATE_DEPENDENT = [
    # If-Match carries a version; whether it is the current one is server state (and RFC 9110 says
    # a tag that matches nothing is 412).
    (None, "precondition_failed", None, None),
    # Cursors are opaque tokens the server issued: a well-formed string is still not one of them.
    (None, "invalid_cursor", None, None),
    # References must name records that exist (server state).
    (None, "validation_failed", "store_id", "no store with this id"),
    (None, "validation_failed", "home_store_id", "no store with this id"),
    (None, "reference_not_found", None, None),
    (None, "customer_not_active", None, None),
    (None, "validation_failed", "tags", "is a rule tag"),  # depends on the tag catalogue
    # "Not in the future" moves with the calendar; the schema bounds the year only.
    (None, "validation_failed", "birthday", "must not be in the future"),
    # Relations between parameters that OpenAPI cannot state (each operation's description does):
    # exactly one identity for the lookup, a value in the form its kind (another path segment) needs,
    # and a merge source other than the target in the path.
    ("GET /v1/customers/lookup", "validation_failed", "phone", "give "),
    ("GET /v1/customers/lookup", "validation_failed", "identity_kind", "identity_kind and identity_value go together"),
    ("PUT /v1/customers/by-identity/{kind}/{value}", "validation_failed", "value", None),
    ("DELETE /v1/customers/{id}/identities/{kind}/{value}", "validation_failed", "value", None),
    ("POST /v1/customers/{id}/merge", "validation_failed", "source_customer_id", "a customer cannot be merged into itself"),
    # Orders: the customer must exist and be a member to redeem; what may be redeemed or must be paid
    # follows from the member's balance, tier and the program settings (server state).
    (None, "customer_not_found", None, None),
    ("POST /v1/orders", "not_a_member", None, None),
    ("POST /v1/orders", "insufficient_points", None, None),
    ("POST /v1/orders", "points_over_limit", None, None),
    ("POST /v1/orders", "amount_mismatch", None, None),
    ("POST /v1/orders", "validation_failed", "points_to_redeem", "must be a multiple of"),
    ("POST /v1/orders", "validation_failed", "occurred_at", "must not be in the future"),
    # Cross-field rules, each stated in the field's description.
    ("POST /v1/orders", "validation_failed", "customer_identity", "not both"),
    ("POST /v1/orders", "validation_failed", "total_amount", "must equal the sum"),
    ("POST /v1/orders", "validation_failed", None, "must equal quantity × unit_price"),
    ("POST /v1/orders", "validation_failed", "paid_amount", "is required with pricing 'external'"),
    # quantity × unit_price (and the sum of the lines) must fit NUMERIC(14, 2): a product, not a bound.
    ("POST /v1/orders", "validation_failed", None, "is too large"),
    ("POST /v1/orders", "validation_failed", "lines", "the order total is too large"),
    # Refunds depend on what the order holds and what was refunded before.
    ("POST /v1/orders/{id}/refunds", "refund_exceeds_paid", None, None),
    ("POST /v1/orders/{id}/refunds", "refund_exceeds_quantity", None, None),
    ("POST /v1/orders/{id}/refunds", "nothing_to_refund", None, None),
    ("POST /v1/orders/{id}/refunds", "validation_failed", "lines", "order has no line"),
    # By the channel's number: the same rules, and whether that order has been posted yet (server state).
    ("POST /v1/refunds", "order_not_posted", None, None),
    # A replay needs an active subscription (the service may have disabled it; server state) and no
    # earlier replay still being delivered, its window is at most 31 days (a relation between `from`
    # and `to`, stated in the operation's description), and a retry needs a delivery that is not
    # being sent at this moment.
    ("POST /v1/webhook-subscriptions/{id}/replay", "webhook_subscription_inactive", None, None),
    ("POST /v1/webhook-subscriptions/{id}/replay", "webhook_replay_pending", None, None),
    ("POST /v1/webhook-subscriptions/{id}/replay", "validation_failed", "to", "must be after `from`"),
    ("POST /v1/webhook-subscriptions/{id}/replay", "validation_failed", "to", "at most 31 days after `from`"),
    # A receiver must reach a public address: what a name resolves to is DNS state, and the ranges an
    # address literal may not fall in (in any of its spellings) are beyond a pattern; the fuzzed
    # service runs without CRM_WEBHOOK_ALLOW_PRIVATE, as a production one does. One principal holds
    # at most 20 subscriptions (server state: how many it created before).
    ("POST /v1/webhook-subscriptions", "validation_failed", "url", "must reach a public address"),
    ("PATCH /v1/webhook-subscriptions/{id}", "validation_failed", "url", "must reach a public address"),
    ("POST /v1/webhook-subscriptions", "webhook_subscription_limit", None, None),
    ("POST /v1/webhook-subscriptions/{id}/deliveries/{delivery_id}/retry", "webhook_delivery_in_flight", None, None),
    ("POST /v1/refunds", "refund_exceeds_paid", None, None),
    ("POST /v1/refunds", "refund_exceeds_quantity", None, None),
    ("POST /v1/refunds", "nothing_to_refund", None, None),
    ("POST /v1/refunds", "validation_failed", "lines", "order has no line"),
    # Tiers and the program: the catalogue decides which codes exist and which tier is the base.
    ("PUT /v1/customers/{id}/membership/tier", "validation_failed", "tier", "no tier with this code"),
    (None, "validation_failed", "min_annual_spend", "base tier"),
    (None, "validation_failed", "rank", "base tier"),
    ("PUT /v1/loyalty/program", "validation_failed", None, "must be shorter than points_ttl_days"),
    # Points and rewards: membership, balance, stock and the reward's state are server state.
    (None, "not_a_member", None, None),
    (None, "insufficient_points", None, None),
    ("POST /v1/customers/{id}/reward-redemptions", "reward_inactive", None, None),
    # Coupon templates: each kind takes its own fields (stated in TemplateCreate's description), amounts
    # must be more than 0 where the money pattern admits "0.00", ends lie after starts and in the future
    # (the calendar), and scope stores must exist.
    ("POST /v1/coupon-templates", "validation_failed", None, "is required for kind"),
    ("POST /v1/coupon-templates", "validation_failed", None, "is not used by kind"),
    ("POST /v1/coupon-templates", "validation_failed", "discount", "must not be above threshold"),
    ("POST /v1/coupon-templates", "validation_failed", "valid_to", "valid_to or valid_days_after_issue is required"),
    ("POST /v1/coupon-templates", "validation_failed", "stores", "no store with this id"),
    ("POST /v1/coupon-templates", "validation_failed", None, "must be more than 0"),
    ("POST /v1/coupon-templates", "validation_failed", "valid_to", "must be after valid_from"),
    ("POST /v1/coupon-templates", "validation_failed", "valid_to", "must be in the future"),
    ("PATCH /v1/coupon-templates/{id}", "validation_failed", "valid_to", "must be after valid_from"),
    ("PATCH /v1/coupon-templates/{id}", "validation_failed", "valid_to", "must be in the future"),
    # Template edits depend on the stored template: its status, what was issued, its validity fields.
    ("PATCH /v1/coupon-templates/{id}", "invalid_transition", None, None),
    ("PATCH /v1/coupon-templates/{id}", "validation_failed", "total_quantity", "already issued"),
    ("PATCH /v1/coupon-templates/{id}", "validation_failed", "valid_to", "while valid_days_after_issue is not set"),
    # Issuing and claiming depend on the template's status, end, quantity and the customer's coupons;
    # `customer_ids` xor `segment_id` is stated in the description; the segment must exist.
    (None, "template_not_active", None, None),
    (None, "template_expired", None, None),
    (None, "quantity_exhausted", None, None),
    (None, "per_customer_limit", None, None),
    ("POST /v1/coupon-templates/{id}/issue", "segment_not_found", None, None),
    ("POST /v1/coupon-templates/{id}/issue", "validation_failed", "customer_ids", "give customer_ids or segment_id"),
    ("POST /v1/customers/{id}/coupons", "validation_failed", "template_id", "no coupon template with this id"),
    # Voiding depends on the coupon's status.
    ("POST /v1/coupons/{code}/void", "coupon_already_redeemed", None, None),
    ("POST /v1/coupons/{code}/void", "coupon_voided", None, None),
    # Tickets: the status machine, comments on a closed ticket and satisfaction (once, after
    # resolution) follow from the ticket's stored status; an assignee must be an active staff member;
    # policy hours go together with the end after the start and days are ISO weekdays 1-7 (stated in
    # PolicyPut); a stats window ends after it starts; policies exist for the four priorities only.
    ("PATCH /v1/tickets/{id}", "invalid_transition", None, None),
    ("PATCH /v1/tickets/{id}", "validation_failed", "assignee_staff_id", "must be an active staff member"),
    ("POST /v1/tickets/{id}/comments", "ticket_closed", None, None),
    ("POST /v1/tickets/{id}/satisfaction", "satisfaction_already_recorded", None, None),
    ("POST /v1/tickets/{id}/satisfaction", "ticket_not_resolved", None, None),
    ("PUT /v1/sla-policies/{priority}", "validation_failed", "business_hours_end", None),
    ("PUT /v1/sla-policies/{priority}", "validation_failed", "business_days", "ISO weekday"),
    ("PUT /v1/sla-policies/{priority}", "sla_policy_not_found", None, None),
    ("GET /v1/tickets/stats", "validation_failed", "to", "must be after from"),
    # SPEC §3.1: a report window spans at most 366 days (a relation between `from` and `to`, or
    # between `from` and today when `to` is left out).
    (None, "validation_failed", "to", "a report window spans at most"),
    # The analytics reports take business days, `to` no earlier than `from` (SPEC §13).
    (None, "validation_failed", "to", "must not be before from"),
    # SPEC §7: a re-post of a sale's natural key with other content conflicts with the stored sale;
    # an external price is bounded by the lines the same body sends (a cross-field rule).
    ("POST /v1/orders", "order_conflict", None, None),
    ("POST /v1/orders", "validation_failed", "paid_amount", "must not exceed total_amount"),
    ("POST /v1/orders", "validation_failed", "paid_amount", "must not be negative"),
    # SPEC §3.1: the per-call cap is a program setting (server state).
    ("POST /v1/customers/{id}/points/adjustments", "adjustment_over_limit", None, None),
    # Issue 22: what a campaign may award each customer is a program setting too (server state).
    (None, "award_over_limit", None, None),
    # Issue 22: with external pricing a line's amount is at most quantity × unit_price (a product).
    ("POST /v1/orders", "validation_failed", None, "must not exceed quantity × unit_price"),
    # Coupons at the till: whether a code applies follows from who holds it, its status, validity,
    # scope and the basket (the reasons are listed in QuoteCoupon); whether a reservation can be
    # used or released follows from its state and its clock.
    (None, "coupon_not_applicable", None, None),
    (None, "coupon_already_redeemed", None, None),
    ("POST /v1/coupons/{code}/rollback", "coupon_not_redeemed", None, None),
    ("POST /v1/coupons/{code}/rollback", "coupon_redeemed_by_order", None, None),
    ("POST /v1/orders", "reservation_not_found", None, None),
    ("POST /v1/orders", "reservation_expired", None, None),
    ("POST /v1/orders", "reservation_not_active", None, None),
    ("DELETE /v1/checkout/reservations/{id}", "reservation_consumed", None, None),
    # Leads: each action is legal from some stages only (the lead's stored status); assignment depends
    # on the staff member (exists, active, of the caller's store, under capacity of open leads);
    # references (customer, order, staff, store) must exist and a linked customer must be active;
    # `lost_reason` goes with outcome lost, a funnel window ends after it starts, and a rule's target
    # is staff_ids or store_id (+ skill), as the descriptions state.
    (None, "invalid_transition", None, None),
    ("POST /v1/leads/{id}/assign", "staff_at_capacity", None, None),
    ("POST /v1/leads/{id}/assign", "staff_inactive", None, None),
    ("POST /v1/leads/{id}/assign", "already_assigned", None, None),
    ("POST /v1/leads/{id}/assign", "validation_failed", "staff_id", None),
    ("POST /v1/leads", "validation_failed", "customer_id", "no customer with this id"),
    ("POST /v1/leads/{id}/convert", "validation_failed", "customer_id", "no customer with this id"),
    ("POST /v1/leads/{id}/convert", "validation_failed", "order_id", "no order with this id"),
    # A store's ticket links an order of that store only (SPEC §3.1): existence and store are state.
    ("POST /v1/tickets", "validation_failed", "order_id", "no order with this id"),
    ("POST /v1/leads", "customer_merged", None, None),
    ("POST /v1/leads", "customer_erased", None, None),
    ("POST /v1/leads/{id}/convert", "customer_merged", None, None),
    ("POST /v1/leads/{id}/convert", "customer_erased", None, None),
    ("POST /v1/leads/{id}/convert", "phone_taken", None, None),
    ("POST /v1/leads/{id}/close", "validation_failed", "lost_reason", "is required when the outcome is lost"),
    ("POST /v1/leads/{id}/close", "validation_failed", "lost_reason", "only for the outcome lost"),
    ("GET /v1/leads/funnel", "validation_failed", "to", "must be after from"),
    (None, "validation_failed", None, "no staff member with this id"),
    ("POST /v1/lead-assignment-rules", "validation_failed", "target", "give staff_ids, or store_id"),
    ("PATCH /v1/lead-assignment-rules/{id}", "validation_failed", "target", "give staff_ids, or store_id"),
    (None, "validation_failed", "target.skill", "only with target.store_id"),
    (None, "validation_failed", "target.store_id", "no store with this id"),
    # The quote prices a basket exactly as an order does: the same state and cross-field rules.
    ("POST /v1/checkout/quote", "membership_not_found", None, None),
    ("POST /v1/checkout/quote", "not_a_member", None, None),
    ("POST /v1/checkout/quote", "insufficient_points", None, None),
    ("POST /v1/checkout/quote", "points_over_limit", None, None),
    ("POST /v1/checkout/quote", "validation_failed", "points_to_redeem", "must be a multiple of"),
    ("POST /v1/checkout/quote", "validation_failed", "customer_identity", "not both"),
    ("POST /v1/checkout/quote", "validation_failed", "reserve", "name the customer"),
    ("POST /v1/checkout/quote", "validation_failed", None, "must equal quantity × unit_price"),
    ("POST /v1/checkout/quote", "validation_failed", None, "is too large"),
    ("POST /v1/checkout/quote", "validation_failed", "lines", "the order total is too large"),
    # Segment definitions (SegmentNode's description): a depth, a count of conditions and an order
    # between two values of `between` are relations JSON Schema cannot count or compare.
    (None, "validation_failed", None, "nested deeper than"),
    (None, "validation_failed", None, "more than 100 conditions"),
    (None, "validation_failed", None, "low must not be above high"),
    # A tag's kind and definition go together (NewTag's description).
    ("POST /v1/tags", "validation_failed", "definition", "a rule tag needs a definition"),
    ("POST /v1/tags", "validation_failed", "definition", "only a rule tag has a definition"),
    # Campaigns (CampaignInput's descriptions): a template's variables are a closed list written in
    # free text; the kind decides whether an audience, a trigger and a start are needed; the actions
    # hold one message and one coupon at most; a window ends after it starts; references exist;
    # an edit or a move depends on the stored status.
    (None, "validation_failed", None, "unknown variable"),
    (None, "validation_failed", None, "is never closed"),
    (None, "validation_failed", None, "names a coupon but the campaign issues none"),
    (None, "validation_failed", None, "one send_message action"),
    (None, "validation_failed", "actions", "at most one issue_coupon action"),
    (None, "validation_failed", "audience.segment_id", None),
    (None, "validation_failed", "trigger", "only a triggered campaign has a trigger"),
    (None, "validation_failed", "trigger", "a triggered campaign needs a trigger"),
    (None, "validation_failed", "schedule.starts_at", "a scheduled campaign needs a start"),
    (None, "validation_failed", "schedule.ends_at", "must be after starts_at"),
    (None, "validation_failed", "kind", "a campaign's kind is fixed"),
    (None, "validation_failed", None, "no coupon template with this id"),
    ("PATCH /v1/campaigns/{id}", "campaign_not_editable", None, None),
    (None, "segment_in_use", None, None),
    ("PUT /v1/marketing/settings", "validation_failed", "quiet_hours.end", "must differ from start"),
    ("POST /v1/campaign-messages/{id}/status", "validation_failed", "reason", "only with the status failed"),
]


def _problem(response):
    try:
        body = json.loads(response.content or b"null")
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _expected(label, problem):
    code = problem.get("code")
    errors = [e for e in problem.get("errors") or [] if isinstance(e, dict)] or [{}]

    def matches(error):
        return any(
            (op is None or op == label)
            and code == c
            and (field is None or error.get("field") == field)
            and (message is None or message in str(error.get("message", "")))
            for op, c, field, message in STATE_DEPENDENT
        )

    # Every reported error must be one of these; a single schema-describable one keeps the failure.
    return all(matches(error) for error in errors)


def _lookup_pair_mismatch(case, problem):
    """`identity_kind` + `identity_value` where the value is not in the form that kind needs."""
    query = case.query or {}
    kind = query.get("identity_kind")
    fields = {e.get("field") for e in problem.get("errors") or [] if isinstance(e, dict)}
    return (
        case.operation.label == "GET /v1/customers/lookup"
        and problem.get("code") == "validation_failed"
        and kind is not None
        and fields == {kind}
    )


# DELETE on these would keep the record readable, so `use_after_free` (ST301) would not apply. There
# are none: an erased customer is 404 as a resource (its anonymous row stays for the totals, SPEC §5),
# a revoked API client and a deleted webhook subscription are gone, and stores, staff and lead
# assignment rules, which are only ever deactivated, have no DELETE (a PATCH of `active` does it).
SOFT_DELETE: set[str] = set()


# Bulk calls whose rows are read one by one, and the problems the single call gives a body of the wrong
# shape or with invalid fields.
ROW_BY_ROW = {"POST /v1/orders/bulk", "POST /v1/refunds/bulk"}
ROW_REFUSALS = {"invalid_body", "unknown_field", "validation_failed", "invalid_text"}


def _row_refused_in_place(case, response):
    """A 200 from a bulk call that answered some row with the single call's shape or validation problem."""
    if case.operation.label not in ROW_BY_ROW or response.status_code != 200:
        return False
    body = _problem(response) or {}
    rows = body.get("results") if isinstance(body.get("results"), list) else []
    return any(
        isinstance(row, dict) and isinstance(row.get("problem"), dict) and row["problem"].get("code") in ROW_REFUSALS
        for row in rows
    )


@schemathesis.hook
def filter_failure(context, failure, case, response):
    if getattr(failure, "code", None) == "ST201":
        if response.status_code == 413 and (_problem(response) or {}).get("code") == "payload_too_large":
            return _dropped(failure, case, response, "body over the size limit, refused unread")
        if _row_refused_in_place(case, response):
            return _dropped(failure, case, response, "bulk row refused in place")
        return True
    if getattr(failure, "code", None) == "ST301":
        # `operation` names the DELETE that freed the resource.
        if getattr(failure, "operation", None) in SOFT_DELETE:
            return _dropped(failure, case, response, "soft delete")
        return True
    if getattr(failure, "code", None) != "ST202":
        return True
    problem = _problem(response)
    if problem is None:
        return True
    if _expected(case.operation.label, problem):
        return _dropped(failure, case, response, "state or cross-parameter rule")
    if _lookup_pair_mismatch(case, problem):
        return _dropped(failure, case, response, "identity_value not in the form identity_kind needs")
    return True
