#!/usr/bin/env python3
"""Walks a search with cursors and checks that every post comes once.

Usage: scripts/cursor-walk.py BASE_URL SORT [QUERY]
  e.g. scripts/cursor-walk.py http://127.0.0.1:8080 time
Prints the total, the posts walked, the pages and the time; exits 1 if a
post comes twice or the walk does not reach the total.
"""
import json
import sys
import time
import urllib.parse
import urllib.request


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    base, sort = sys.argv[1].rstrip("/"), sys.argv[2]
    query = sys.argv[3] if len(sys.argv) > 3 else ""
    seen, cursor, total, pages = set(), None, None, 0
    started = time.time()
    while True:
        params = {"q": query, "sort": sort, "limit": "500"}
        if cursor:
            params["cursor"] = cursor
        url = f"{base}/api/v1/search?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url) as answer:
            page = json.load(answer)
        total, pages = page["total"], pages + 1
        for hit in page["hits"]:
            if hit["id"] in seen:
                sys.exit(f"{hit['id']} came twice")
            seen.add(hit["id"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    print(f"sort={sort} total={total} walked={len(seen)} pages={pages} "
          f"seconds={time.time() - started:.1f}")
    if len(seen) != total:
        sys.exit(1)


main()
