"""AsyncEmitter: the same events, each awaited until its delivery report arrives."""
import asyncio
import threading

import pytest

from agent_events import DeliveryFailed, EventInvalid


def test_async_run_sends_every_event_in_order(async_emitter, producer):
    async def main():
        async with async_emitter:
            async with async_emitter.run("u-42", "t-1", run_id="r-1") as run:
                await run.started("research-assistant", model="demo")
                await run.thinking("looking", step=1)
                async with run.tool("web_search", input={"q": "kafka"}) as call:
                    await asyncio.sleep(0.02)
                    call.output = "ok"
                await run.custom("citation", {"url": "u"})
                await run.completed("ok", output="done", duration_ms=7)
        return call

    call = asyncio.run(main())
    envelopes = producer.envelopes()
    assert [e["type"] for e in envelopes] == ["agent_started", "agent_thinking", "tool_executing",
                                              "tool_completed", "citation", "agent_completed"]
    assert envelopes[3]["payload"] == {"tool": "web_search", "status": "ok", "call_id": call.call_id,
                                       "output": "ok", "duration_ms": call.duration_ms}
    assert call.duration_ms >= 20
    assert envelopes[5]["payload"] == {"status": "ok", "output": "done", "duration_ms": 7}
    assert all(key == b"u-42" for _, key, _ in producer.records)


def test_async_methods_wait_for_delivery_off_the_loop(async_emitter, producer):
    reports = []
    original = producer.poll

    def poll(timeout=0):
        reports.append(threading.current_thread() is threading.main_thread())
        return original(timeout)

    producer.poll = poll

    async def main():
        env = await async_emitter.run("u", "t").thinking("x")
        await async_emitter.close()
        return env

    env = asyncio.run(main())
    assert producer.envelopes() == [env]
    assert reports and not any(reports), "delivery reports are served by the poll thread, not the loop"


def test_async_delivery_failure_raises_from_the_call(async_emitter, producer):
    producer.fail["agent_thinking"] = "Broker: Topic authorization failed"

    async def main():
        run = async_emitter.run("u", "t", run_id="r-9")
        await run.started("a")
        with pytest.raises(DeliveryFailed, match="agent_thinking of run r-9: Broker: Topic authorization failed"):
            await run.thinking("x")
        await async_emitter.close()

    asyncio.run(main())


def test_async_tool_error_and_invalid_event(async_emitter, producer):
    async def main():
        run = async_emitter.run("u", "t")
        with pytest.raises(KeyError):
            async with run.tool("lookup"):
                raise KeyError("k")
        with pytest.raises(EventInvalid, match="agent_started payload: 'agent' is a required property"):
            await run.custom("agent_started", {})
        await async_emitter.close()

    asyncio.run(main())
    executing, completed = [e["payload"] for e in producer.envelopes()]
    assert (completed["status"], completed["error"], completed["call_id"]) == ("error", "KeyError", executing["call_id"])


def test_cancelled_async_run_completes_as_cancelled(async_emitter, producer):
    async def agent():
        async with async_emitter.run("u", "t") as run:
            await run.started("a")
            await asyncio.sleep(10)

    async def main():
        task = asyncio.create_task(agent())
        while not producer.records:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await async_emitter.close()

    asyncio.run(main())
    assert [(e["type"], e["payload"].get("status")) for e in producer.envelopes()] == [
        ("agent_started", None), ("agent_completed", "cancelled")]
