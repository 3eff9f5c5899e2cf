import { describe, expect, it } from "vitest";
import { CursorPager, cursorOf, type Page } from "./paging";

describe("cursorOf", () => {
  it("reads the opaque cursor from absolute and relative links", () => {
    expect(cursorOf("http://shop.test/api/products/?limit=2&cursor=abc%3D%3D")).toBe("abc==");
    expect(cursorOf("/api/products/?cursor=xyz&search=lamp")).toBe("xyz");
    expect(cursorOf(null)).toBeNull();
    expect(cursorOf("/api/products/?limit=2")).toBeNull();
  });
});

describe("CursorPager", () => {
  const pages: Record<string, Page<{ id: number }>> = {
    first: { results: [{ id: 1 }, { id: 2 }], next: "/api/x/?cursor=c2", previous: null },
    c2: { results: [{ id: 2 }, { id: 3 }], next: "http://h/api/x/?cursor=c3", previous: "/api/x/?cursor=c1" },
    c3: { results: [{ id: 4 }], next: null, previous: "/api/x/?cursor=c2" },
  };

  it("follows next links, appends new rows once, and stops at the end", async () => {
    const asked: (string | null)[] = [];
    const pager = new CursorPager(async (cursor) => {
      asked.push(cursor);
      return pages[cursor ?? "first"]!;
    });
    expect(pager.hasMore).toBe(true);
    expect((await pager.load()).map((i) => i.id)).toEqual([1, 2]);
    // id 2 moved onto the second page: it is not shown twice.
    expect((await pager.load()).map((i) => i.id)).toEqual([1, 2, 3]);
    expect(pager.hasMore).toBe(true);
    expect((await pager.load()).map((i) => i.id)).toEqual([1, 2, 3, 4]);
    expect(pager.hasMore).toBe(false);
    await pager.load();
    expect(asked).toEqual([null, "c2", "c3"]);
  });

  it("keeps its place when a page fails, so 'more' can be retried", async () => {
    let fail = true;
    const pager = new CursorPager(async (cursor) => {
      if (cursor === "c2" && fail) {
        fail = false;
        throw new Error("network");
      }
      return pages[cursor ?? "first"]!;
    });
    await pager.load();
    await expect(pager.load()).rejects.toThrow("network");
    expect((await pager.load()).map((i) => i.id)).toEqual([1, 2, 3]);
  });
});
