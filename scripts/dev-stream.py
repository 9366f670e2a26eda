#!/usr/bin/env python3
"""Builds a development stream for the burst detector: two days of real
Weibo reposts (the background) with injected incidents made of real news
sentences and Weibo reports, plus the truth file `yuqing backtest --truth`
reads.

The data it reads is research-only and never enters the repository: the
output goes to a directory of your choice (default `data/dev-stream/`,
which git ignores).

    scripts/dev-stream.py --draw tune                # seed 1, sentence half A
    scripts/dev-stream.py --draw holdout             # seed 2, sentence half B
    target/release/yuqing backtest data/dev-stream/tune/stream.jsonl \\
        --truth data/dev-stream/tune/truth.jsonl --quiet

Background. Every post of `weibo_ced_reposts_sample.jsonl` (60,441 reposts
and comments with their real times) is used `--copies` times (5: about
300,000 posts). Each copy of a thread is placed on one of the days, keeping
the local time of day of each of its posts (so the stream has the real
day/night cycle and a thread's comments stay together, as they came),
shifted by 80 minutes per copy (-160, -80, 0, +80, +160 minutes, each
+/-8), so that two copies of a post are never near-duplicates within the
detector's hour; every copy has authors of its own.

Incidents. Fast bursts (8-12 reports within 3-5 minutes) of fire, traffic,
earthquake, food poisoning and attack, and slow burns (30-36 reports over
20-30 minutes): a fire at night and a pollution incident in the afternoon.
Each report is a different real sentence by a different author. Sentences
are chosen by their source's own labels and keywords (never by what yuqing
flags) and split in two halves by a hash of their id: the `tune` draw uses
half A, the `holdout` draw half B, so the held-out report uses sentences and
a background placement the tuning never saw.

truth.jsonl, one incident per line: category, start (first report), end
(last report), plus fields the backtest ignores and this script's `check`
reads: kind (fast or slow), reports, fifth (time of the fifth report) and
due (when an alert must have opened: the fifth report + 2 minutes for a fast
burst, start + 12 minutes for a slow burn).

    scripts/dev-stream.py check data/dev-stream/tune  # after a backtest run:
    target/release/yuqing backtest … --truth … > alerts.jsonl; then check
"""

import argparse
import hashlib
import json
import os
import random
import re
import sys
from datetime import datetime, timedelta, timezone

CST = timezone(timedelta(hours=8))
DAY = 86_400


def stable_half(ident):
    """0 or 1, from a hash of the id: which sentences each draw may use."""
    return hashlib.sha256(ident.encode()).digest()[0] & 1


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                yield json.loads(line)


def lead(text, limit=120):
    """A headline or lead sentence: the text up to its first full stop
    (at most `limit` characters), without leading white space."""
    text = text.strip()
    m = re.search(r"[。！？!?]", text)
    if m and m.end() <= limit:
        return text[: m.end()]
    return text[:limit]


# An incident of pollution, rather than talk about the environment.
POLLUTION = (
    r"泄漏事故|气体泄漏|偷排|排污|直排|死鱼|恶臭|刺鼻|被污染|遭污染|污染事件|污染事故"
    r"|水体污染|严重污染|污染严重|污染了|镉超标|重金属超标|铅超标|砷超标|废水|废气|废渣"
)

FIRE = r"火灾|起火|失火|着火了|大火烧|火情|火势|浓烟"

# Incident kinds: category, sources (file, keep(row) -> bool, text(row)).
def pools(data):
    def duee(types):
        def keep(r):
            return r.get("expected") and any(t in types for t in r.get("event_types", []))

        return ("duee_labelled.jsonl", keep, lambda r: r["text"])

    def grep(file, pattern, limit=140):
        # The pattern must be in what is injected (the lead), not only
        # somewhere in a long text.
        rx = re.compile(pattern)
        return (
            file,
            lambda r: rx.search(lead(r["text"], limit)) is not None,
            lambda r: lead(r["text"], limit),
        )

    kinds = {
        "fire": [
            duee({"灾害/意外-起火"}),
            grep("weibo_ced_rumor_original.jsonl", r"火灾|起火|大火|失火|着火"),
            grep("weibo_nlpcc2016_wordseg.jsonl", FIRE),
            grep("weibo_emotion_nlpcc_simplifyweibo.jsonl", FIRE),
            grep("weibo_smp2020_ewect_virus.jsonl", FIRE),
        ],
        "traffic": [
            duee({"灾害/意外-车祸", "灾害/意外-坠机"}),
            grep("weibo_ced_rumor_original.jsonl", r"车祸|相撞|追尾|翻车|侧翻"),
        ],
        "earthquake": [
            duee({"灾害/意外-地震"}),
            grep("weibo_ced_rumor_original.jsonl", r"地震"),
            grep("weibo_nlpcc2016_wordseg.jsonl", r"级地震|发生地震|地震了|震感"),
        ],
        "food_poisoning": [
            grep("food_safety_news.jsonl", r"中毒", 100),
            grep("weibo_ced_rumor_original.jsonl", r"中毒"),
        ],
        "attack": [
            duee({"灾害/意外-袭击"}),
            grep("weibo_ced_rumor_original.jsonl", r"砍人|砍伤|持刀|行凶|袭击|枪击|捅伤|捅死"),
            grep("weibo_nlpcc2016_wordseg.jsonl", r"砍人|砍伤|持刀|行凶|枪击|捅伤"),
        ],
        "pollution": [
            grep("weibo_ced_rumor_original.jsonl", POLLUTION + r"|污染"),
            grep("weibo_nlpcc2016_wordseg.jsonl", POLLUTION),
            grep("weibo_emotion_nlpcc_simplifyweibo.jsonl", POLLUTION),
            grep("food_safety_news.jsonl", POLLUTION, 100),
        ],
    }
    out = {}
    for kind, sources in kinds.items():
        seen, rows = set(), []
        for file, keep, text in sources:
            path = os.path.join(data, file)
            if not os.path.exists(path):
                continue
            for r in read_jsonl(path):
                if not keep(r):
                    continue
                t = text(r).strip()
                if len(t) < 8 or t in seen:
                    continue
                seen.add(t)
                rows.append((r["id"], t))
        out[kind] = rows
    return out


CATEGORY = {
    "fire": "fire",
    "traffic": "traffic",
    "earthquake": "geohazard",
    "food_poisoning": "food_drug",
    "attack": "violence",
    "pollution": "pollution",
}


def iso(ts):
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def build(args):
    rng = random.Random(args.seed)
    half = {"tune": 0, "holdout": 1}[args.draw]
    data = args.data
    src = os.path.join(data, "weibo_ced_reposts_sample.jsonl")
    if not os.path.exists(src):
        sys.exit(f"dev-stream: {src} not found (--data DIR)")
    day0 = datetime.fromisoformat(args.start).replace(tzinfo=CST).timestamp()

    # The background: threads placed on a day, posts at their time of day.
    threads = {}
    for r in read_jsonl(src):
        threads.setdefault(r["thread"], []).append(r)
    posts = []
    for copy in range(args.copies):
        for thread in sorted(threads):
            day = rng.randrange(args.days)
            # Copies of one thread on the same day are more than an hour
            # apart, so that they are not near-duplicates of each other
            # (a stream of distinct posts, as the real one is).
            shift = (copy - (args.copies - 1) / 2) * 80 * 60 + rng.uniform(-480, 480)
            for r in threads[thread]:
                t = datetime.strptime(r["time"], "%Y-%m-%d %H:%M:%S")
                tod = t.hour * 3600 + t.minute * 60 + t.second
                ts = day0 + day * DAY + (tod + shift) % DAY
                posts.append(
                    {
                        "id": f"{r['id']}-{copy}",
                        "text": r["text"],
                        "ts": ts,
                        "author": f"{r['uid_hash']}-{copy}",
                    }
                )

    # The incidents.
    sentences = {k: [s for s in v if stable_half(s[0]) == half] for k, v in pools(data).items()}
    for k, v in sentences.items():
        rng.shuffle(v)
    used = {k: 0 for k in sentences}

    def take(kind, n):
        pool = sentences[kind]
        if used[kind] + n > len(pool):
            sys.exit(f"dev-stream: only {len(pool)} {kind} sentences in this half, need more")
        out = pool[used[kind] : used[kind] + n]
        used[kind] += n
        return out

    plan = []  # (kind, shape, start ts)
    busy = []

    def free(start, length):
        return all(abs(start - s) > length + 3600 + 1800 for s, _ in busy)

    def place(kind, shape, lo_hour, hi_hour, length):
        for _ in range(1000):
            day = rng.randrange(args.days)
            # Not in the first hours: the detector learns its baselines.
            if day == 0 and hi_hour <= 3:
                day = 1
            start = day0 + day * DAY + rng.uniform(lo_hour * 3600, hi_hour * 3600 - length)
            if start < day0 + 3 * 3600 or not free(start, length):
                continue
            busy.append((start, length))
            plan.append((kind, shape, start, length))
            return
        sys.exit("dev-stream: could not place the incidents apart")

    for kind in args.fast:
        place(kind, "fast", 0, 24, 300)
    for spec in args.slow:
        kind, lo, hi = spec.split("@")
        place(kind, "slow", int(lo), int(hi), 1800)

    truth = []
    n_inj = 0
    for kind, shape, start, _ in sorted(plan, key=lambda p: p[2]):
        if shape == "fast":
            n = rng.randint(args.fast_min, args.fast_max)
            length = rng.uniform(args.fast_minutes[0] * 60, args.fast_minutes[1] * 60)
        else:
            n = rng.randint(args.slow_min, args.slow_max)
            length = rng.uniform(args.slow_minutes[0] * 60, args.slow_minutes[1] * 60)
        times = sorted([start] + [start + rng.uniform(0, length) for _ in range(n - 1)])
        for (sid, text), ts in zip(take(kind, n), times):
            n_inj += 1
            posts.append(
                {
                    "id": f"inj-{n_inj:04d}",
                    "text": text,
                    "ts": ts,
                    "author": f"witness-{rng.getrandbits(48):012x}",
                }
            )
        due = times[4] + 120 if shape == "fast" else times[0] + 720
        truth.append(
            {
                "category": CATEGORY[kind],
                "start": iso(times[0]),
                "end": iso(times[-1]),
                "kind": shape,
                "label": f"{shape} {kind}",
                "reports": n,
                "fifth": iso(times[4]),
                "due": iso(due),
            }
        )

    posts.sort(key=lambda p: (p["ts"], p["id"]))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "stream.jsonl"), "w", encoding="utf-8") as f:
        for p in posts:
            p = dict(p, ts=iso(p["ts"]))
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
    with open(os.path.join(args.out, "truth.jsonl"), "w", encoding="utf-8") as f:
        for t in truth:
            f.write(json.dumps(t, ensure_ascii=False) + "\n")
    print(
        f"dev-stream: {len(posts)} posts ({n_inj} injected in {len(truth)} incidents) "
        f"over {args.days} days from {args.start} (+08:00) in {args.out}",
        file=sys.stderr,
    )


def check(args):
    """Reads the backtest's alerts (alerts.jsonl: `yuqing backtest … > alerts.jsonl`)
    and the truth, and says for each incident whether an alert of its
    category opened by its `due` time."""
    truth = list(read_jsonl(os.path.join(args.dir, "truth.jsonl")))
    alerts = list(read_jsonl(os.path.join(args.dir, "alerts.jsonl")))
    opens = [a for a in alerts if a["state"] == "open"]
    ok = 0
    for t in truth:
        first = None
        for a in opens:
            if a["category"] != t["category"]:
                continue
            if t["start"] <= a["emitted_at"] and a["window_start"] <= t["end"]:
                if first is None or a["emitted_at"] < first["emitted_at"]:
                    first = a
        if first is None:
            verdict = "MISSED"
        elif first["emitted_at"] <= t["due"]:
            verdict = "in time"
            ok += 1
        else:
            verdict = "LATE"
        at = first["emitted_at"] if first else "-"
        print(f"{t['label']:<22} {t['reports']:>3} reports  start {t['start']}  due {t['due']}  opened {at}  {verdict}")
    print(f"{ok} of {len(truth)} in time")
    return 0 if ok == len(truth) else 1


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(here)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd")
    c = sub.add_parser("check", help="compare alerts.jsonl in DIR with its truth.jsonl")
    c.add_argument("dir")
    p.add_argument("--data", default=os.path.join(os.path.dirname(repo), "shared", "data"))
    p.add_argument("--draw", choices=["tune", "holdout"], default="tune")
    p.add_argument("--seed", type=int, help="default: 1 for tune, 2 for holdout")
    p.add_argument("--out", help="default: data/dev-stream/DRAW")
    p.add_argument("--start", default="2024-07-01T00:00:00", help="local (+08:00) start of day one")
    p.add_argument("--days", type=int, default=2)
    p.add_argument("--copies", type=int, default=5)
    p.add_argument("--fast", nargs="*", default=["fire", "traffic", "earthquake", "food_poisoning", "attack"])
    p.add_argument("--fast-min", type=int, default=8, help="fewest reports of a fast burst")
    p.add_argument("--fast-max", type=int, default=12, help="most reports of a fast burst")
    p.add_argument("--fast-minutes", type=float, nargs=2, default=[3, 5], metavar=("LO", "HI"))
    p.add_argument("--slow-min", type=int, default=30, help="fewest reports of a slow burn")
    p.add_argument("--slow-max", type=int, default=36, help="most reports of a slow burn")
    p.add_argument("--slow-minutes", type=float, nargs=2, default=[20, 30], metavar=("LO", "HI"))
    p.add_argument("--slow", nargs="*", default=["fire@0@5", "pollution@13@17"], help="KIND@FROM_HOUR@TO_HOUR")
    args = p.parse_args()
    if args.cmd == "check":
        sys.exit(check(args))
    if args.seed is None:
        args.seed = 1 if args.draw == "tune" else 2
    if args.out is None:
        args.out = os.path.join(repo, "data", "dev-stream", args.draw)
    build(args)


if __name__ == "__main__":
    main()
