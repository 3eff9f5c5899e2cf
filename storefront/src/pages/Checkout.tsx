/** Checkout: wait (long poll) until stock is reserved, then pay; declines and
 * out-of-stock cancellations are said in words, and a declined card can be retried. */

import { useEffect, useRef, useState, type FormEvent } from "react";
import { Link, useLocation } from "wouter";
import { api, must, type Order, type OrderStatus } from "../api/client";
import { newIdempotencyKey } from "../lib/ids";
import { errorMessage, sameAttempt } from "../lib/problem";
import { retryWhileBusy } from "../lib/retry";
import { ErrorNote, Loading, Page, Price } from "../ui";

const LONG_POLL_SECONDS = 25;

const DECLINES: Record<string, string> = {
  card_declined: "Your card was declined. Try another card.",
  insufficient_funds: "Your card has insufficient funds. Try another card.",
  expired_card: "Your card has expired. Try another card.",
  incorrect_cvc: "The security code (CVC) is incorrect.",
  processing_error: "The payment provider had a problem; please try again.",
  payment_declined: "PayPal declined the payment.",
  bank_account_declined: "The bank declined the transfer.",
};

/** The order once its status is no longer `from` (long polling, woken by the server). */
export async function waitForChange(id: number, from: OrderStatus, signal: AbortSignal): Promise<Order> {
  for (;;) {
    const order = await retryWhileBusy(() =>
      must(
        api.GET("/api/orders/{order_id}/", {
          params: { path: { order_id: id }, query: { changed_from: from, wait: LONG_POLL_SECONDS } },
          signal,
        }),
      ),
    );
    if (order.status !== from) return order;
  }
}

type Method = "card" | "paypal" | "bank_transfer";

export function CheckoutPage({ id }: { id: number }) {
  const [, navigate] = useLocation();
  const [order, setOrder] = useState<Order | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [decline, setDecline] = useState<string | null>(null);
  const [paying, setPaying] = useState(false);
  const [method, setMethod] = useState<Method>("card");
  const attempt = useRef<string | null>(null);
  const abort = useRef(new AbortController());

  useEffect(() => {
    const controller = new AbortController();
    abort.current = controller;
    (async () => {
      let current = await must(api.GET("/api/orders/{order_id}/", { params: { path: { order_id: id } }, signal: controller.signal }));
      setOrder(current);
      if (current.status === "pending") {
        current = await waitForChange(id, "pending", controller.signal);
        setOrder(current);
      }
      if (current.status === "paid") navigate(`/orders/${id}/success`);
    })().catch((e: unknown) => {
      if (!controller.signal.aborted) setError(errorMessage(e));
    });
    return () => controller.abort();
  }, [id, navigate]);

  const pay = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (!order) return;
    const form = new FormData(event.currentTarget);
    const field = (name: string) => String(form.get(name) ?? "").trim();
    setError(null);
    setDecline(null);
    setPaying(true);
    attempt.current ??= newIdempotencyKey();
    const from = order.status;
    try {
      const key = attempt.current;
      const payment = await retryWhileBusy(() =>
        must(
          api.POST("/api/payments/", {
            params: { header: { "Idempotency-Key": key } },
            body: {
              order_id: order.id,
              method,
              card:
                method === "card"
                  ? {
                      number: field("number").replace(/\s+/g, ""),
                      exp_month: Number(field("exp_month")),
                      exp_year: Number(field("exp_year")),
                      cvc: field("cvc"),
                      holder_name: field("holder_name") || null,
                    }
                  : null,
              paypal_email: method === "paypal" ? field("paypal_email") : null,
              bank_account: method === "bank_transfer" ? { iban: field("iban").replace(/\s+/g, ""), holder_name: field("holder_name") } : null,
            },
          }),
        ),
      );
      attempt.current = null;
      const after = await waitForChange(order.id, from, abort.current.signal);
      setOrder(after);
      if (after.status === "paid") {
        navigate(`/orders/${order.id}/success`);
        return;
      }
      if (after.status === "payment_failed") {
        const outcome = await must(api.GET("/api/payments/{payment_id}/", { params: { path: { payment_id: payment.id } } }));
        setDecline(DECLINES[outcome.failure_reason ?? ""] ?? "The payment was declined. Try again or use another method.");
      }
    } catch (e) {
      if (!sameAttempt(e)) attempt.current = null; // a lost answer keeps the key
      setError(errorMessage(e));
    } finally {
      setPaying(false);
    }
  };

  if (!order) return error ? <ErrorNote message={error} /> : <Loading label="Loading your order…" />;
  return (
    <Page title={`Checkout: order #${order.id}`}>
      <p>
        Total: <Price value={order.total_amount} currency={order.currency} />
      </p>
      {order.status === "pending" && <Loading label="Reserving your items…" />}
      {order.status === "cancelled" && (
        <div className="error" role="alert">
          <p>
            <strong>Some items are out of stock</strong>, so this order was cancelled and nothing was charged.
          </p>
          {order.cancel_reason && <p>{order.cancel_reason}</p>}
          <p>
            <Link href="/cart">Back to your cart</Link>
          </p>
        </div>
      )}
      {(order.status === "awaiting_payment" || order.status === "payment_failed") && (
        <form className="stack payment" onSubmit={(e) => void pay(e)}>
          <h2>Payment</h2>
          {decline && (
            <p className="error" role="alert">
              {decline}
            </p>
          )}
          <fieldset>
            <legend>Method</legend>
            {(["card", "paypal", "bank_transfer"] as const).map((m) => (
              <label key={m} className="check">
                <input type="radio" name="method" value={m} checked={method === m} onChange={() => setMethod(m)} />
                {m === "card" ? "Card" : m === "paypal" ? "PayPal" : "Bank transfer"}
              </label>
            ))}
          </fieldset>
          {method === "card" && (
            <>
              <label>
                Card number
                <input name="number" inputMode="numeric" autoComplete="cc-number" required placeholder="4242 4242 4242 4242" />
              </label>
              <div className="row">
                <label>
                  Month
                  <input name="exp_month" type="number" min={1} max={12} required defaultValue={12} autoComplete="cc-exp-month" />
                </label>
                <label>
                  Year
                  <input name="exp_year" type="number" min={2024} max={2100} required defaultValue={2030} autoComplete="cc-exp-year" />
                </label>
                <label>
                  CVC
                  <input name="cvc" inputMode="numeric" required maxLength={4} autoComplete="cc-csc" />
                </label>
              </div>
              <label>
                Name on card
                <input name="holder_name" autoComplete="cc-name" />
              </label>
              <p className="hint">Test cards: 4242 4242 4242 4242 succeeds; 4000 0000 0000 0002 is declined.</p>
            </>
          )}
          {method === "paypal" && (
            <label>
              PayPal email
              <input name="paypal_email" type="email" required />
            </label>
          )}
          {method === "bank_transfer" && (
            <>
              <label>
                IBAN
                <input name="iban" required />
              </label>
              <label>
                Account holder
                <input name="holder_name" required />
              </label>
            </>
          )}
          <ErrorNote message={error} />
          <button type="submit" className="primary" disabled={paying}>
            {paying ? "Processing payment…" : `Pay`}
          </button>
        </form>
      )}
      {!["pending", "cancelled", "awaiting_payment", "payment_failed"].includes(order.status) && (
        <p>
          This order is {order.status.replace("_", " ")}. <Link href={`/orders/${order.id}`}>See the order</Link>.
        </p>
      )}
    </Page>
  );
}
