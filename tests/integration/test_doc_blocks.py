"""Code blocks of the docs that a reader runs, run as written against scripts/demo.sh's
defaults: the broker at 127.0.0.1:9092 and the user demo-user. The test points the block at
its own broker and topic (the only change) and reads the events back from a bridge socket.
"""
import asyncio
import os
import re
import subprocess
import sys

from conftest import BROKERS, open_socket, receive_events

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_BROKERS = "127.0.0.1:9092"


def python_blocks(path):
    with open(os.path.join(ROOT, path)) as f:
        return re.findall(r"```python\n(.*?)```", f.read(), re.S)


def demo_defaults():
    """The broker port and the user that scripts/demo.sh and its producer use by default."""
    demo = open(os.path.join(ROOT, "scripts", "demo.sh")).read()
    producer = open(os.path.join(ROOT, "scripts", "demo_producer.py")).read()
    port = re.search(r'kafka_port="\$\{KAFKA_PORT:-(\d+)\}"', demo).group(1)
    user = re.search(r'add_argument\("--user", default="([^"]+)"\)', producer).group(1)
    return f"127.0.0.1:{port}", user


def run_block(code, topic, prelude=""):
    """The block with its Emitter pointed at the test broker and topic, in the project's venv."""
    pointed = re.sub(r'(Async)?Emitter\("127\.0\.0\.1:9092"(, topic="agent-events")?\)',
                     lambda m: f'{m.group(1) or ""}Emitter("{BROKERS}", topic="{topic}")', code)
    assert pointed != code, "the block names no Emitter(\"127.0.0.1:9092\")"
    done = subprocess.run([sys.executable, "-c", prelude + pointed], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_ag_ui_python_example_runs_next_to_the_demo(kafka, bridge_factory):
    block = next(b for b in python_blocks("docs/ag-ui.md") if "Emitter(" in b)
    brokers, user = demo_defaults()
    assert brokers == DEMO_BROKERS and f'emitter.run("{user}", "thread-demo"' in block, block
    topic = kafka.create_topic(3)
    bridge = bridge_factory(topic)

    async def run():
        ws = await open_socket(bridge, user)
        await asyncio.to_thread(run_block, block, topic)
        return await receive_events(ws, 11)

    frames = asyncio.run(run())
    types = [f["type"] for f in frames]
    assert types[0] == "RUN_STARTED" and types[-1] == "RUN_FINISHED", types
    assert types.count("TEXT_MESSAGE_CONTENT") == 4 and "agent_thinking" in types and "tool_completed" in types


def test_producing_python_example_runs_with_its_tool_given(kafka, bridge_factory):
    """docs/producing.md's emitter example: web_search is the reader's own (its comment says so)."""
    block = python_blocks("docs/producing.md")[0]
    _, user = demo_defaults()
    assert f'user_id="{user}"' in block and "web_search is your agent's tool" in block, block
    topic = kafka.create_topic(3)
    bridge = bridge_factory(topic)

    async def run():
        ws = await open_socket(bridge, user)
        await asyncio.to_thread(run_block, block, topic, "def web_search(q):\n    return ['a result']\n")
        return await receive_events(ws, 6)

    frames = asyncio.run(run())
    assert [f["type"] for f in frames] == ["agent_started", "agent_thinking", "tool_executing", "tool_completed",
                                           "citation", "agent_completed"]
