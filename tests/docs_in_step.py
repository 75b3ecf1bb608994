"""The docs agree with the code they describe (issue 22, item 7): every close code the gateway
sends is in the README's list and protocol.md's table; every reason label of the gateway's
counters is in protocol.md's metrics table; pictures are mermaid, not ASCII art; compose
commands are spelled as Debian ships them. Exits 1 with each disagreement listed.
"""
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read(*path):
    with open(os.path.join(ROOT, *path)) as f:
        return f.read()


problems = []
readme, protocol = read("README.md"), read("docs", "protocol.md")

# Close codes: the gateway's constants (and websocketpp's going_away, 1001, and 1009 for a
# message too big), in the README's list and protocol.md's table.
codes = set(re.findall(r"inline constexpr uint16_t close_\w+ = (\d+);", read("ws_gateway", "gateway_impl.hpp")))
codes |= {"1001", "1009"}
readme_list = re.search(r"- Close codes \((.*?)\) and every frame", readme, re.S)
if not readme_list:
    problems.append("README: no 'Close codes (...)' list")
else:
    for code in sorted(codes - set(re.findall(r"\b(\d{4})\b", readme_list.group(1)))):
        problems.append(f"README's close codes lack {code}")
table = set(re.findall(r"^\s*\| (\d{4}) \|", protocol, re.M))
for code in sorted(codes - table):
    problems.append(f"protocol.md's close-code table lacks {code}")

# Reason labels: each to_string switch of gateway_metrics.cpp against its metric's row.
metrics_cpp = read("ws_gateway", "gateway_metrics.cpp")
for enum, metric in [("disconnect_reason", "bridge_disconnects_total"), ("refusal_reason", "bridge_requests_refused_total")]:
    body = re.search(r"to_string\(" + enum + r" r\) \{(.*?)\n\}", metrics_cpp, re.S).group(1)
    reasons = set(re.findall(r'return "(\w+)";', body)) - {"unknown"}
    row = re.search(r"^\| `" + metric + r"` \|.*$", protocol, re.M)
    documented = set(re.findall(r"`(\w+)`", row.group(0))) if row else set()
    for reason in sorted(reasons - documented):
        problems.append(f"protocol.md's {metric} row lacks reason {reason}")

# Pictures: mermaid where docs draw (box-drawing arrows are ASCII art GitHub cannot lay out).
docs = ["README.md"] + sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))
for path in docs:
    for block in re.findall(r"```[^\n]*\n(.*?)```", read(path), re.S):
        if re.search(r"[─│┌┐└┘┼├┤▶◀]", block):
            problems.append(f"{path}: a picture in ASCII art: {block.splitlines()[0][:60]!r}")
if read("docs", "architecture.md").count("```mermaid") < 2:
    problems.append("docs/architecture.md: fewer than two mermaid diagrams")

# Compose: Debian's docker-compose; the plugin's spelling only where the docs explain it.
for path in docs:
    for n, line in enumerate(read(path).splitlines(), 1):
        if "docker compose" in line and "Compose plugin" not in line and "type `docker compose`" not in line:
            problems.append(f"{path}:{n}: 'docker compose' (Debian ships docker-compose): {line.strip()[:70]}")

for p in problems:
    print(p)
print(f"docs in step: {len(problems)} problem(s)")
sys.exit(1 if problems else 0)
