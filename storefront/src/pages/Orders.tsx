/** Orders: the list, one order with its timeline (history projection), cancel, success. */

import { useEffect, useState } from "react";
import { Link } from "wouter";
import { api, must, type Order, type Schemas } from "../api/client";
import { CursorPager } from "../lib/paging";
import { errorMessage } from "../lib/problem";
import { useLoad, useMe } from "../state";
import { Empty, ErrorNote, Loading, Page, Price } from "../ui";

type Timeline = Schemas["orders.TimelineOut"];
const CANCELLABLE = new Set(["pending", "awaiting_payment", "payment_failed", "paid"]);

export function statusLabel(status: string | null | undefined): string {
  return (status ?? "unknown").replace(/_/g, " ");
}

export function OrdersPage() {
  const { me, ready } = useMe();
  const [pager] = useState(
    () => new CursorPager<Order>((cursor) => must(api.GET("/api/orders/", { params: { query: { limit: 20, cursor: cursor ?? undefined } } }))),
  );
  const [items, setItems] = useState<Order[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const more = () => pager.load().then(setItems, (e: unknown) => setError(errorMessage(e)));
  useEffect(() => {
    if (me) void more();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [me?.id]);
  if (!ready) return <Loading />;
  if (!me) return <Page title="Your orders"><p><Link href="/login">Log in</Link> to see your orders.</p></Page>;
  return (
    <Page title="Your orders">
      <ErrorNote message={error} />
      {items === null && !error && <Loading />}
      {items?.length === 0 && <Empty>No orders yet.</Empty>}
      {items && items.length > 0 && (
        <ul className="orders">
          {items.map((o) => (
            <li key={o.id}>
              <Link href={`/orders/${o.id}`}>Order #{o.id}</Link> · <span className={`status ${o.status}`}>{statusLabel(o.status)}</span> ·{" "}
              <Price value={o.total_amount} currency={o.currency} /> · {new Date(o.created_at).toLocaleDateString()}
            </li>
          ))}
        </ul>
      )}
      {items && pager.hasMore && (
        <button type="button" onClick={() => void more()}>
          More orders
        </button>
      )}
    </Page>
  );
}

export function OrderPage({ id }: { id: number }) {
  const order = useLoad(() => must(api.GET("/api/orders/{order_id}/", { params: { path: { order_id: id } } })), [id]);
  const [timeline, setTimeline] = useState<Timeline | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  // The projection follows the events a moment later: look again until it has caught up.
  useEffect(() => {
    if (!order.data) return;
    const want = order.data.status;
    let live = true;
    let tries = 0;
    const load = async () => {
      const found = await must(api.GET("/api/orders/history/{order_id}/", { params: { path: { order_id: id } } })).catch(() => null);
      if (!live) return;
      if (found) setTimeline(found);
      const caughtUp = found?.events.some((e) => e.status === want);
      if (!caughtUp && ++tries < 20) window.setTimeout(() => void load(), 1000);
    };
    void load();
    return () => {
      live = false;
    };
  }, [id, order.data]);

  const cancel = async () => {
    setBusy(true);
    setError(null);
    try {
      await must(api.POST("/api/orders/{order_id}/cancel/", { params: { path: { order_id: id } } }));
      order.reload();
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };

  if (order.loading && !order.data) return <Loading />;
  if (!order.data) return <ErrorNote message={order.error} />;
  const o = order.data;
  return (
    <Page title={`Order #${o.id}`}>
      <p>
        Status: <strong className={`status ${o.status}`} data-testid="order-status">{statusLabel(o.status)}</strong>
        {o.cancel_reason && <> ({o.cancel_reason})</>}
      </p>
      <table className="lines">
        <thead>
          <tr>
            <th scope="col">Product</th>
            <th scope="col">Price</th>
            <th scope="col">Quantity</th>
          </tr>
        </thead>
        <tbody>
          {o.items.map((line) => (
            <tr key={line.id}>
              <td>{line.name}</td>
              <td>
                <Price value={line.unit_price} />
              </td>
              <td>{line.quantity}</td>
            </tr>
          ))}
        </tbody>
        <tfoot>
          <tr>
            <th scope="row" colSpan={2}>
              Total
            </th>
            <td>
              <Price value={o.total_amount} currency={o.currency} />
            </td>
          </tr>
        </tfoot>
      </table>
      {(o.status === "awaiting_payment" || o.status === "payment_failed") && (
        <p>
          <Link href={`/checkout/${o.id}`}>Pay this order</Link>
        </p>
      )}
      {CANCELLABLE.has(o.status) && (
        <button type="button" className="secondary" disabled={busy} onClick={() => void cancel()}>
          {o.status === "paid" ? "Cancel and refund" : "Cancel order"}
        </button>
      )}
      <ErrorNote message={error} />
      <h2>Timeline</h2>
      {!timeline && <Loading label="Loading the timeline…" />}
      {timeline && timeline.events.length === 0 && <Empty>No events yet.</Empty>}
      <ol className="timeline" aria-label="Timeline">
        {timeline?.events.map((e) => (
          <li key={e.event_id}>
            <time dateTime={e.occurred_at}>{new Date(e.occurred_at).toLocaleString()}</time> · {e.type}
            {e.status && <> → <strong>{statusLabel(e.status)}</strong></>}
          </li>
        ))}
      </ol>
    </Page>
  );
}

export function SuccessPage({ id }: { id: number }) {
  return (
    <Page title="Thank you for your order">
      <p className="notice" role="status">
        Order #{id} is paid. A confirmation email is on its way.
      </p>
      <p>
        <Link href={`/orders/${id}`}>See the order and its timeline</Link> · <Link href="/products">Keep shopping</Link>
      </p>
    </Page>
  );
}
