"""The watch's event buffer holds a bounded number of bytes: a producer waits for the
consumer instead of piling events up (controller/store/buffer.py)."""

from __future__ import annotations

import queue
import threading

import pytest

from controller.store.buffer import ByteBoundedBuffer


def test_a_full_buffer_makes_the_producer_wait_for_the_consumer() -> None:
    buf: ByteBoundedBuffer[int] = ByteBoundedBuffer(max_bytes=100)
    buf.put(1, 60)
    second_in = threading.Event()

    def produce() -> None:
        buf.put(2, 60)
        second_in.set()

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    assert not second_in.wait(0.3)  # 120 bytes would be over 100: it waits
    assert buf.bytes == 60
    assert buf.get(timeout=1) == 1  # room again
    assert second_in.wait(5)
    assert buf.get(timeout=1) == 2 and buf.bytes == 0
    producer.join(5)


def test_an_item_larger_than_the_buffer_passes_alone_and_control_items_never_wait() -> None:
    buf: ByteBoundedBuffer[str] = ByteBoundedBuffer(max_bytes=10)
    buf.put("huge", 1000)
    buf.put("closed")  # size 0: a control item
    assert [buf.get(timeout=1), buf.get(timeout=1)] == ["huge", "closed"]
    with pytest.raises(queue.Empty):
        buf.get(timeout=0.01)


def test_a_stopped_producer_does_not_wait() -> None:
    buf: ByteBoundedBuffer[int] = ByteBoundedBuffer(max_bytes=10)
    stop = threading.Event()
    stop.set()
    buf.put(1, 10, stop)
    buf.put(2, 10, stop)
    assert buf.bytes == 20
