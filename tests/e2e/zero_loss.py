#!/usr/bin/env python3
"""Zero-loss summary of a VerifiableProducer run: acknowledged values against the values a
consumer read back. Usage: zero_loss.py <producer.jsonl> <consumed.txt>. Prints one line; exits 1
when an acknowledged message is missing."""
import json
import sys


def main(producer, consumed):
    acked, times, sent = set(), [], 0
    with open(producer) as f:
        for line in f:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("name") == "producer_send_success":
                acked.add(e["value"])
                times.append(e["timestamp"])
            elif e.get("name") == "tool_data":
                sent = e.get("sent", 0)
    with open(consumed) as f:
        received = {l.strip() for l in f if l.strip()}
    times.sort()
    stall = max((b - a for a, b in zip(times, times[1:])), default=0)
    missing = len(acked - received)
    print(f"sent {sent}, acknowledged {len(acked)}, received {len(received)}, "
          f"missing {missing}, largest stall {stall} ms")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
