/** Home: the newest products and the bestsellers report. */

import { Link } from "wouter";
import { api, must } from "../api/client";
import { useLoad } from "../state";
import { Empty, ErrorNote, Loading, Page, Price, ProductCard } from "../ui";

export function Home() {
  const featured = useLoad(() => must(api.GET("/api/products/", { params: { query: { limit: 8 } } })), []);
  const best = useLoad(
    () => must(api.GET("/api/reports/bestsellers/", { params: { query: { limit: 5 } } })),
    [],
  );
  return (
    <Page title="Welcome to Highload Shop">
      <h2>New in</h2>
      {featured.loading && <Loading />}
      <ErrorNote message={featured.error} />
      {featured.data && featured.data.results.length === 0 && <Empty>No products yet.</Empty>}
      {featured.data && (
        <ul className="grid">
          {featured.data.results.map((p) => (
            <ProductCard key={p.id} product={p} />
          ))}
        </ul>
      )}
      <p>
        <Link href="/products">See the whole catalog</Link>
      </p>
      <h2>Bestsellers</h2>
      {best.loading && <Loading />}
      <ErrorNote message={best.error} />
      {best.data && best.data.length === 0 && <Empty>Nothing sold yet: be the first.</Empty>}
      {best.data && best.data.length > 0 && (
        <ol className="bestsellers">
          {best.data.map((b) => (
            <li key={b.product_id}>
              <Link href={`/products/${b.product_id}`}>{b.name}</Link> · {b.units_sold} sold ·{" "}
              <Price value={b.revenue} />
            </li>
          ))}
        </ol>
      )}
    </Page>
  );
}
