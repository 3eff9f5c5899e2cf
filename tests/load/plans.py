"""The shop's JMeter plans, one per journey, generated into tests/load/<plan>.jmx.

    python tests/load/plans.py          # rewrite every .jmx (a test fails when stale)

The shared pieces (log in or refresh, the checkout cart, the long polls, paying, the
flash sale's final check through the API) are JMeter Test Fragments: each plan carries
the ones its journeys use, once, after its thread groups, and runs them with Module
Controllers, so they read once in the .jmx too and JMeter's GUI shows and edits them as
fragments. This file writes them (and the journeys) as Python functions; the .jmx files
are its output, committed so that JMeter (and its GUI) can open them. Every sampler is
labelled by route and carries a status assertion, most a JSON one too.
Properties (`-Jname=value`): host, port, protocol, threads, rampup, duration, rate,
think_ms, users_csv, staff_email, staff_password, refresh_after_s, units (flash-sale).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from jmx import (
    MODULE,
    Node,
    csv_data,
    extract,
    fragment,
    groovy,
    headers,
    http,
    http_defaults,
    json_has,
    module,
    modules,
    once,
    p,
    rate,
    repeat,
    status,
    sync,
    test_plan,
    think,
    thread_group,
    when,
    write,
)

HERE = Path(__file__).resolve().parent
JSON = {"Content-Type": "application/json", "Accept": "application/json"}
BEARER = {"Authorization": "Bearer ${access}"}
# Words of the seeded catalog (services/catalog/src/catalog/seed.py), for searches.
SEARCH_TERMS = ["oak", "walnut", "steel", "leather", "lamp", "guitar", "jacket", "nordic"]
ORDERINGS = ["price", "-price", "name", "-created_at"]
# Access tokens live 15 minutes: refresh after 10.
REFRESH_AFTER_S = 600
SUCCESS_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
CHOOSE_CARD = f"""
vars.put('card', new Random().nextInt(10) == 0 ? '{DECLINED_CARD}' : '{SUCCESS_CARD}')
SampleResult.setIgnore()
"""
# The loop's index is JMeter's __jm__<controller name>__idx variable.
NEXT_ORDER = """
def i = (vars.get('__jm__every order of the sale__idx') ?: '0') as int
vars.put('order_id', props.get('sale_orders').get(i))
SampleResult.setIgnore()
"""


def idempotency(prefix: str) -> Node:
    return headers("Idempotency-Key", {"Idempotency-Key": f"{prefix}-${{__UUID()}}"})


def pick(variable: str, source: str) -> str:
    """Groovy: put a random one of source_1..source_N (a JSON extract of -1) in variable."""
    return f"""
def n = (vars.get('{source}_matchNr') ?: '0') as int
vars.put('{variable}', n > 0 ? vars.get('{source}_' + (1 + new Random().nextInt(n))) : '0')
"""


# --- shared pieces: Test Fragments, run by Module Controllers -------------------------
#
# Each plan carries the fragments its journeys use (`plan()` adds them) and runs them with
# `module(name)`. A fragment takes its inputs from the thread's variables: `email` and
# `password` (log in), `product_id` (checkout), `order_id` (long polls, pay), `card`.

LOG_IN = "log in, or refresh before expiry"
CHECKOUT = "checkout: the open cart with one line"
WHILE_PENDING = "long poll while pending"
WHILE_AWAITING_PAYMENT = "long poll while awaiting payment"
PAY = "pay by card"
CHECK_THE_SALE = "check the sale through the API"


def tokens(event: str) -> list[Node]:
    """Keep the answer's token pair, and when it came (`keep_fresh` reads it)."""
    return [
        json_has("$.access"),
        extract("access", "$.access"),
        extract("refresh", "$.refresh"),
        groovy("PostProcessor", event, "vars.put('token_at', '' + System.currentTimeMillis())"),
    ]


def log_in() -> list[Node]:
    """Log in once per thread (as `email`/`password`), then refresh the token pair once
    it is older than -Jrefresh_after_s (REFRESH_AFTER_S; the smoke test sets 0)."""
    age = "System.currentTimeMillis() - ((vars.get('token_at') ?: '0') as long)"
    # `\\,`: a comma inside a JMeter function's argument (the If Controller's __groovy).
    after = f"props.getProperty('refresh_after_s'\\, '{REFRESH_AFTER_S}')"
    return [
        when(
            "not logged in yet",
            "vars.get('token_at') == null",
            http(
                "POST /api/auth/login/",
                "/api/auth/login/",
                status("200"),
                *tokens("logged in at"),
                method="POST",
                body='{"email": "${email}", "password": "${password}"}',
            ),
        ),
        when(
            "token about to expire",
            f"({age}) > 1000L * ({after} as long)",
            http(
                "POST /api/auth/refresh/",
                "/api/auth/refresh/",
                status("200"),
                *tokens("refreshed at"),
                method="POST",
                body='{"refresh": "${refresh}"}',
            ),
        ),
    ]


def as_staff() -> Node:
    """The staff login of the properties, as the variables LOG_IN reads."""
    return groovy(
        "Sampler",
        "log in as staff",
        """
vars.put('email', props.getProperty('staff_email', 'staff@example.com'))
vars.put('password', props.getProperty('staff_password', 'load-staff-password'))
SampleResult.setIgnore()
""",
    )


def customers() -> Node:
    return csv_data(
        "customers (make load-data)", p("users_csv", "var/load/users.csv"), "email,password"
    )


def long_poll(from_status: str, expect: str) -> list[Node]:
    """GET the order until it leaves `from_status` (the server holds it up to 25 s);
    leaves `status`."""
    return [
        http(
            f"GET /api/orders/{{id}}/?changed_from={from_status}",
            f"/api/orders/${{order_id}}/?changed_from={from_status}&wait=25",
            status("200"),
            json_has("$.status", expect),
            extract("status", "$.status"),
        )
    ]


def pay() -> list[Node]:
    return [
        http(
            "POST /api/payments/",
            "/api/payments/",
            headers("Idempotency-Key", {"Idempotency-Key": "pay-${order_id}-${__UUID()}"}),
            status("202"),
            json_has("$.status"),
            method="POST",
            body=(
                '{"order_id": ${order_id}, "method": "card", "card": {"number": "${card}", '
                '"exp_month": 12, "exp_year": 2030, "cvc": "123"}}'
            ),
        )
    ]


def checkout() -> list[Node]:
    """The open cart with one line of `product_id`: leaves cart_id. (The order itself is
    the journey's: the flash sale holds it with a Synchronizing Timer.)"""
    return [
        http(
            "POST /api/shopping-carts/",
            "/api/shopping-carts/",
            status("20[01]"),  # 200: the customer's open cart
            extract("cart_id", "$.id"),
            method="POST",
            body="{}",
        ),
        http(
            "POST /api/cart-items/",
            "/api/cart-items/",
            # 200: the product was in the open cart already (a run that stopped before
            # its order), its quantity went up: set back to 1 below.
            status("20[01]"),
            json_has("$.quantity"),
            extract("line_id", "$.id"),
            extract("line_quantity", "$.quantity"),
            method="POST",
            body='{"cart_id": ${cart_id}, "product_id": ${product_id}, "quantity": 1}',
        ),
        when(
            "a line left by an earlier run",
            "vars.get('line_quantity') != '1'",
            http(
                "PATCH /api/cart-items/{id}/",
                "/api/cart-items/${line_id}/",
                status("200"),
                json_has("$.quantity", "1"),
                method="PATCH",
                body='{"quantity": 1}',
            ),
        ),
    ]


def place_order(*timers: Node) -> Node:
    return http(
        "POST /api/orders/",
        "/api/orders/",
        idempotency("order"),
        *timers,
        status("201"),
        json_has("$.status", "pending|awaiting_payment|cancelled"),
        extract("order_id", "$.id"),
        method="POST",
        body='{"cart_id": ${cart_id}}',
    )


def listed_product(label: str, query: str, *checks: Node) -> Node:
    """A product list whose ids land in listed_1..N, one of them in product_id."""
    return http(
        label,
        f"/api/products/?{query}",
        status("200"),
        json_has("$.results[0].id"),
        *checks,
        extract("listed", "$.results[*].id", match=-1),
        groovy("PostProcessor", "pick a product", pick("product_id", "listed")),
    )


# --- journeys ------------------------------------------------------------------------


def browse_group(threads: str, duration: str | None, rampup: str, group_rate: str) -> Node:
    """Anonymous shoppers: categories, lists with filters, orderings and cursor pages,
    searches, product pages with a popularity skew (a few hot products, a long tail), and
    reviews. Anonymous GETs of the catalog are what nginx micro-caches."""
    terms = ", ".join(f"'{t}'" for t in SEARCH_TERMS)
    orderings = ", ".join(f"'{o}'" for o in ORDERINGS)
    choose = f"""
def r = new Random()
vars.put('term', [{terms}][r.nextInt({len(SEARCH_TERMS)})])
vars.put('ordering', [{orderings}][r.nextInt({len(ORDERINGS)})])
{pick("category_id", "category").strip()}
"""
    # 70 % of product pages go to the 3 newest products, the rest to any listed one.
    skew = """
def r = new Random()
def hot = Math.min(3, (vars.get('hot_matchNr') ?: '0') as int)
def tail = (vars.get('listed_matchNr') ?: '0') as int
if (hot > 0 && (tail == 0 || r.nextDouble() < 0.7)) {
    vars.put('product_id', vars.get('hot_' + (1 + r.nextInt(hot))))
} else if (tail > 0) {
    vars.put('product_id', vars.get('listed_' + (1 + r.nextInt(tail))))
}
"""
    return thread_group(
        "browse: anonymous shoppers",
        threads=threads,
        rampup=rampup,
        duration=duration,
        loops="-1" if duration else "1",
    ).add(
        rate(group_rate),
        think(),
        http(
            "GET /api/categories/",
            "/api/categories/?limit=100",
            status("200"),
            json_has("$.results"),
            extract("category", "$.results[*].id", match=-1),
        ),
        http(
            "GET /api/products/",
            "/api/products/?limit=20",
            groovy("PreProcessor", "choose term, ordering, category", choose),
            status("200"),
            json_has("$.results[0].id"),
            extract("hot", "$.results[*].id", match=-1),
        ),
        http(
            "GET /api/products/?category&ordering",
            "/api/products/?category=${category_id}&ordering=${ordering}&limit=20",
            status("200"),
            json_has("$.results"),
            extract("listed", "$.results[*].id", match=-1),
            extract("next_page", "$.next", default=""),
        ),
        when(
            "a next page",
            # The API's links are relative (`/api/products/?...`); JMeter takes either form.
            "(vars.get('next_page') ?: '').startsWith('/')"
            " || vars.get('next_page').startsWith('http')",
            http(
                "GET /api/products/?cursor",
                "${next_page}",
                status("200"),
                json_has("$.results"),
            ),
        ),
        http(
            "GET /api/products/?min_price&max_price&in_stock",
            "/api/products/?min_price=10&max_price=500&in_stock=true&ordering=price&limit=20",
            status("200"),
            json_has("$.results"),
        ),
        http(
            "GET /api/products/?search",
            "/api/products/?search=${term}&limit=20",
            status("200"),
            json_has("$.results"),
        ),
        repeat(
            "product pages",
            "3",
            http(
                "GET /api/products/{id}/",
                "/api/products/${product_id}/",
                groovy("PreProcessor", "popularity skew", skew),
                status("200"),
                json_has("$.price", r"\d+\.\d{2}"),
            ),
            http(
                "GET /api/reviews/?product",
                "/api/reviews/?product=${product_id}&limit=20",
                status("200"),
                json_has("$.results"),
            ),
        ),
    )


def shopper_group(threads: str, duration: str | None, rampup: str, group_rate: str) -> Node:
    """Customers of the CSV: log in once per thread (refresh before expiry), wishlist,
    cart, checkout with an Idempotency-Key, long poll until awaiting_payment, pay with a
    test card (1 in 10 declined), long poll until paid (a declined order is cancelled),
    read the history."""
    return thread_group(
        "shopper: logged-in customers",
        threads=threads,
        rampup=rampup,
        duration=duration,
        loops="-1" if duration else "1",
    ).add(
        customers(),
        headers("JSON and bearer", {**JSON, **BEARER}),
        rate(group_rate),
        think(),
        module(LOG_IN),
        once(
            "make a wishlist, once per customer",
            http(
                "POST /api/wishlists/",
                "/api/wishlists/",
                status("201"),
                extract("wishlist_id", "$.id"),
                method="POST",
                body='{"name": "load ${__UUID()}"}',
            ),
        ),
        listed_product("GET /api/products/?in_stock", "in_stock=true&ordering=price&limit=20"),
        http(
            "GET /api/products/{id}/",
            "/api/products/${product_id}/",
            status("200"),
            json_has("$.in_stock", "true"),
        ),
        http(
            "POST /api/wishlist-items/",
            "/api/wishlist-items/",
            status("201|409"),  # 409: this product is on the wishlist already
            method="POST",
            body='{"wishlist_id": ${wishlist_id}, "product_id": ${product_id}}',
        ),
        module(CHECKOUT),
        place_order(),
        module(WHILE_PENDING),
        when(
            "reserved",
            "vars.get('status') == 'awaiting_payment'",
            groovy("Sampler", "choose a test card (1 in 10 declined)", CHOOSE_CARD),
            module(PAY),
            module(WHILE_AWAITING_PAYMENT),
            when(
                "declined",
                "vars.get('status') == 'payment_failed'",
                # As a customer would: an unpaid order counts against max_unpaid_orders
                # (5) until its window expires, and the CSV's customers come back each run.
                http(
                    "POST /api/orders/{id}/cancel/",
                    "/api/orders/${order_id}/cancel/",
                    status("200"),
                    json_has("$.status", "cancelled"),
                    method="POST",
                ),
            ),
        ),
        http(
            "GET /api/orders/history/",
            "/api/orders/history/?limit=20",
            status("200"),
            json_has("$.results"),
        ),
    )


def staff_group(threads: str, duration: str | None, group_rate: str) -> Node:
    """Staff at a low rate: every report, user and order lists, a product edit."""
    return thread_group(
        "staff: reports and edits",
        threads=threads,
        duration=duration,
        loops="-1" if duration else "1",
    ).add(
        headers("JSON and bearer", {**JSON, **BEARER}),
        rate(group_rate),
        think(),
        as_staff(),
        module(LOG_IN),
        *(
            http(f"GET {path}", f"{path}?limit=10", status("200"))
            for path in (
                "/api/reports/bestsellers/",
                "/api/reports/low-stock/",
                "/api/reports/category-stats/",
                "/api/reports/customer-stats/",
            )
        ),
        http("GET /api/users/", "/api/users/?limit=20", status("200"), json_has("$.results")),
        http("GET /api/orders/", "/api/orders/?limit=20", status("200"), json_has("$.results")),
        listed_product("GET /api/products/", "ordering=-created_at&limit=20"),
        http(
            "PATCH /api/products/{id}/",
            "/api/products/${product_id}/",
            status("200"),
            json_has("$.description", "Edited by the staff load plan .*"),
            method="PATCH",
            body='{"description": "Edited by the staff load plan at ${__time()}."}',
        ),
    )


def flash_sale_groups(buyers: str, units: str, rampup: str) -> list[Node]:
    """N buyers race for K units of one product at the same instant: exactly K orders end
    paid, the rest cancelled (out of stock), the stock ends at 0; checked at the end.
    The buyers log in during `rampup` (a login is a bcrypt check: 50 at once would queue
    for tens of seconds on two cores), then wait for each other and order together."""
    setup = thread_group(
        "flash-sale: put K units on sale", threads="1", loops="1", kind="SetupThreadGroup"
    ).add(
        headers("JSON and bearer", {**JSON, **BEARER}),
        as_staff(),
        module(LOG_IN),
        http(
            "GET /api/products/?ordering=-price",
            # The dearest product: the shopper journey buys the cheapest ones.
            "/api/products/?ordering=-price&limit=1",
            status("200"),
            extract("product_id", "$.results[0].id"),
        ),
        http(
            "PATCH /api/products/{id}/ (stock K)",
            "/api/products/${product_id}/",
            status("200"),
            json_has("$.stock_quantity", units),
            groovy(
                "PostProcessor",
                "share the sale with the buyers",
                f"""
props.put('sale_product', vars.get('product_id'))
props.put('sale_staff_access', vars.get('access'))
props.put('sale_orders', java.util.Collections.synchronizedList(new ArrayList()))
props.put('sale_units', '{units}')
props.put('sale_buyers', '{buyers}')
""",
            ),
            method="PATCH",
            body=f'{{"stock_quantity": {units}}}',
        ),
    )
    race = thread_group("flash-sale: buyers", threads=buyers, rampup=rampup, loops="1").add(
        customers(),
        headers("JSON and bearer", {**JSON, **BEARER}),
        module(LOG_IN),
        groovy(
            "Sampler",
            "the sale's product, a card that pays",
            f"""
vars.put('product_id', props.get('sale_product'))
vars.put('card', '{SUCCESS_CARD}')
SampleResult.setIgnore()
""",
        ),
        module(CHECKOUT),
        place_order(sync("every buyer at once", buyers)),
        module(WHILE_PENDING),
        groovy(
            "Sampler",
            "remember the order",
            "props.get('sale_orders').add(vars.get('order_id'))\nSampleResult.setIgnore()",
        ),
        when(
            "got a unit",
            "vars.get('status') == 'awaiting_payment'",
            module(PAY),
            module(WHILE_AWAITING_PAYMENT),
        ),
    )
    check = thread_group(
        "flash-sale: check the outcome", threads="1", loops="1", kind="PostThreadGroup"
    ).add(
        headers("JSON and bearer", {**JSON, "Authorization": "Bearer ${__P(sale_staff_access)}"}),
        module(CHECK_THE_SALE),
    )
    return [setup, race, check]


TALLY = """
def status = vars.get('status')
synchronized (props) {
    props.put('sale_' + status, ((props.get('sale_' + status) ?: 0) as int) + 1)
}
"""
VERDICT = """
def orders = props.get('sale_orders').size()
def paid = (props.get('sale_paid') ?: 0) as int
def cancelled = (props.get('sale_cancelled') ?: 0) as int
def k = props.get('sale_units') as int
def n = props.get('sale_buyers') as int
def won = Math.min(k, n)
def outcome = ('orders=' + orders + ' paid=' + paid + ' cancelled=' + cancelled
               + ' K=' + k + ' N=' + n)
SampleResult.setResponseData(outcome, 'UTF-8')
if (orders != n || paid != won || cancelled != n - won) {
    SampleResult.setSuccessful(false)
    def expected = 'expected ' + won + ' paid and ' + (n - won) + ' cancelled: '
    SampleResult.setResponseMessage(expected + outcome)
}
"""


def check_the_sale() -> list[Node]:
    """Every order of the sale through the API (waiting while one still awaits payment),
    the product's stock, and the verdict: exactly min(K, N) paid, the rest cancelled."""
    return [
        repeat(
            "every order of the sale",
            "${__groovy(props.get('sale_orders')?.size() ?: 0)}",
            groovy("Sampler", "next order", NEXT_ORDER),
            http(
                "GET /api/orders/{id}/ (outcome)",
                # A paid order may still be on its way: wait while it awaits payment.
                "/api/orders/${order_id}/?changed_from=awaiting_payment&wait=25",
                status("200"),
                json_has("$.status", "paid|cancelled"),
                extract("status", "$.status"),
                groovy("PostProcessor", "tally", TALLY),
            ),
        ),
        http(
            "GET /api/products/{id}/ (stock 0)",
            "/api/products/${__P(sale_product)}/",
            status("200"),
            json_has("$.stock_quantity", "0"),
        ),
        groovy("Sampler", "check: exactly K paid, the rest cancelled", VERDICT),
    ]


FRAGMENTS: dict[str, Callable[[], list[Node]]] = {
    LOG_IN: log_in,
    CHECKOUT: checkout,
    WHILE_PENDING: lambda: long_poll("pending", "awaiting_payment|cancelled"),
    PAY: pay,
    WHILE_AWAITING_PAYMENT: lambda: long_poll("awaiting_payment", "paid|payment_failed"),
    CHECK_THE_SALE: check_the_sale,
}


# --- plans ---------------------------------------------------------------------------


def plan(name: str, comment: str, *groups: Node) -> Node:
    """The thread groups, then the Test Fragments their Module Controllers run."""
    used = {node.attrs["testname"].removeprefix(MODULE) for g in groups for node in modules(g)}
    pieces = [fragment(n, *make()) for n, make in FRAGMENTS.items() if n in used]
    return test_plan(name, comment, http_defaults(), headers("JSON", JSON), *groups, *pieces)


def plans() -> dict[str, Node]:
    threads, rampup, duration, rate_ = (
        p("threads", 10),
        p("rampup", 10),
        p("duration", 60),
        p("rate", 0),
    )
    return {
        "browse": plan(
            "browse",
            "Anonymous catalog browsing with think time; -Jrate caps samples/s.",
            browse_group(threads, duration, rampup, rate_),
        ),
        "shopper": plan(
            "shopper",
            "Logged-in customers (make load-data) through the whole checkout saga.",
            shopper_group(threads, duration, rampup, rate_),
        ),
        "flash-sale": plan(
            "flash-sale",
            "-Jthreads buyers race for -Junits units of one product at one instant.",
            *flash_sale_groups(p("threads", 50), p("units", 10), p("rampup", 30)),
        ),
        "staff": plan(
            "staff",
            "Staff reports, lists and product edits at a low rate.",
            staff_group(p("threads", 1), duration, p("rate", 0.5)),
        ),
        "soak": plan(
            "soak",
            "browse, shopper and staff together at a fixed rate for -Jduration (30 min).",
            browse_group(p("threads", 10), p("duration", 1800), rampup, p("browse_rate", 20)),
            shopper_group(
                p("shopper_threads", 4), p("duration", 1800), rampup, p("shopper_rate", 2)
            ),
            staff_group("1", p("duration", 1800), p("staff_rate", 0.2)),
        ),
        "smoke": plan(
            "smoke",
            "Every journey for a few seconds with a handful of threads (CI).",
            # One full journey per thread, so every sampler runs at least once.
            browse_group(p("threads", 2), None, "1", "0"),
            shopper_group(p("threads", 2), None, "1", "0"),
            staff_group("1", None, "0"),
            *flash_sale_groups(p("buyers", 3), p("units", 2), "1"),
        ),
    }


def main() -> None:
    for name, node in plans().items():
        write(node, HERE / f"{name}.jmx")
        print(HERE / f"{name}.jmx")


if __name__ == "__main__":
    main()
