"""The README's POS flow through the generated Python client, against a live service.

Run by scripts/generate-clients after it has generated the client: token → customer (and enrolment) →
the till's lookup by phone → checkout quote → the order, paid what the quote said, and re-posted (the
same order, nothing doubled). Every call goes through the generated operation modules and models, so
an operation or a schema the generator mangles fails here.

Usage: python generated_client_pos.py BASE_URL ADMIN_CLIENT_JSON
(the generated package `retail_crm_client` must be importable, e.g. via PYTHONPATH).
Prints `N passed, N failed` as its last line.
"""

import datetime
import json
import sys
import uuid

from retail_crm_client import AuthenticatedClient, Client
from retail_crm_client.api.auth import issue_token
from retail_crm_client.api.checkout import quote
from retail_crm_client.api.customers import create_customer, lookup_customer
from retail_crm_client.api.memberships import enrol_member
from retail_crm_client.api.orders import post_order
from retail_crm_client.models import (
    CustomerInput,
    CustomerView,
    EnrolInput,
    LineInput,
    LookupResult,
    MembershipView,
    OrderInput,
    OrderInputChannel,
    OrderView,
    QuoteInput,
    QuoteInputChannel,
    QuoteView,
    TokenRequestType0,
    TokenRequestType0GrantType,
    TokenResponse,
)

CHECKS = []


def check(what, ok, detail=""):
    CHECKS.append(ok)
    print(f"{'ok  ' if ok else 'FAIL'} {what}{'' if ok else f': {detail}'}")
    return ok


def expect(response, status, model, what):
    """The response has this status and the generated client parsed it into this model."""
    parsed = response.parsed
    ok = response.status_code == status and isinstance(parsed, model)
    detail = f"HTTP {int(response.status_code)} {response.content[:300]!r}"
    if not check(what, ok, detail):
        raise SystemExit(finish())
    return parsed


def finish():
    passed = sum(1 for ok in CHECKS if ok)
    failed = len(CHECKS) - passed
    print(f"generated-client POS flow: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


def main(base_url, admin_client_path):
    with open(admin_client_path, encoding="utf-8") as f:
        admin = json.load(f)
    run = uuid.uuid4().hex[:8]

    # 1. a token (the one open operation: a plain Client)
    body = TokenRequestType0(
        client_id=admin["client_id"],
        client_secret=admin["client_secret"],
        grant_type=TokenRequestType0GrantType.CLIENT_CREDENTIALS,
    )
    token = expect(issue_token.sync_detailed(client=Client(base_url=base_url), body=body), 200, TokenResponse, "token")
    client = AuthenticatedClient(base_url=base_url, token=token.access_token, raise_on_unexpected_status=True)

    # 2. a customer with a phone, enrolled at the till
    customer = expect(
        create_customer.sync_detailed(
            client=client,
            body=CustomerInput(name="张三", phone="13812345678", tags=["vip"]),
            idempotency_key=f"generated-client-{run}",
        ),
        201,
        CustomerView,
        "create a customer",
    )
    membership = expect(
        enrol_member.sync_detailed(customer.id, client=client, body=EnrolInput.from_dict({"channel": "pos"})),
        201,
        MembershipView,
        "enrol the customer",
    )
    check("a 16-digit member card", len(membership.member_card) == 16, membership.member_card)

    # 3. the till's lookup by phone: profile, membership, points and coupons in one call
    found = expect(lookup_customer.sync_detailed(client=client, phone="138-1234-5678"), 200, LookupResult, "lookup")
    check("the lookup finds the customer", found.customer.id == customer.id, f"{found.customer.id} != {customer.id}")
    check("the lookup shows the membership", found.membership is not None and found.membership.member_card == membership.member_card)
    check("no points yet", found.points.available == 0, found.points)

    # 4. the checkout quote for the basket
    lines = [LineInput(sku="W-DRESS-001", name="连衣裙", category="女装", quantity=1, unit_price="299.00")]
    priced = expect(
        quote.sync_detailed(
            client=client,
            body=QuoteInput(channel=QuoteInputChannel.POS, customer_id=found.customer.id, lines=lines),
        ),
        200,
        QuoteView,
        "quote",
    )
    check("the quote totals the basket", priced.total_amount == "299.00", priced.total_amount)
    check("the quote earns points", priced.points_to_earn > 0, priced.points_to_earn)

    # 5. the order, paid what the quote said; re-posting it returns the same order and changes nothing
    order_input = OrderInput(
        channel=OrderInputChannel.POS,
        external_id=f"GEN-PY-{run}",
        occurred_at=datetime.datetime.now(datetime.timezone.utc),
        customer_id=found.customer.id,
        lines=lines,
        paid_amount=priced.payable,
    )
    order = expect(post_order.sync_detailed(client=client, body=order_input), 201, OrderView, "post the order")
    check("paid what the quote said", order.paid_amount == priced.payable, f"{order.paid_amount} != {priced.payable}")
    check("earned what the quote said", order.points_earned == priced.points_to_earn,
          f"{order.points_earned} != {priced.points_to_earn}")
    check("the order names the customer", order.customer_id == customer.id, order.customer_id)
    again = expect(post_order.sync_detailed(client=client, body=order_input), 200, OrderView, "re-post the order")
    check("the same order", again.id == order.id, f"{again.id} != {order.id}")

    after = expect(lookup_customer.sync_detailed(client=client, phone="13812345678"), 200, LookupResult, "lookup after")
    earned = after.points.available + after.points.pending
    check("the points are on the account once", earned == priced.points_to_earn, f"{earned} != {priced.points_to_earn}")
    return finish()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
