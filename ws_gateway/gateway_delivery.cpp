#include <sys/socket.h>
#include <sys/uio.h>

#include "consumers/cursor.hpp"
#include "ws_gateway/gateway_impl.hpp"

namespace bridge::gateway {

void gateway::shard::start_replay(const connection_ptr& con, connection_hdl h) {
    con->catching_up = true;
    con->replay.socket_id = con->id;
    replaying[con->id] = h;
    {
        std::lock_guard<std::mutex> lock(pace_mutex);
        in_flight[con->id] = 0;
    }
    if (hooks.replay)
        hooks.replay(con->replay);
    else
        finish_replay(con->id, {consumers::replay_status::unavailable, "no replay source", {}});
}

std::size_t gateway::shard::unsent_bytes(const connection_ptr& con) const {
    std::size_t bytes = con->get_buffered_amount();
    // websocketpp takes its queue off the count when a write starts: a client that never
    // reads can hold a whole gathered write there. What it was handed less what it wrote
    // counts that write too.
    if (!con->is_secure()) {
        const uint64_t written = con->get_socket().written();
        if (con->handed > written) bytes = std::max<std::size_t>(bytes, con->handed - written);
    }
    if (bytes + con->kernel_buffer > config.send_buffer_bytes) bytes += con->get_socket().unsent_in_kernel();
    return bytes;
}

// Bytes the io thread queued a moment ago may be unsent only because their write has not
// been run yet; a socket whose client does not read stays past the limit, or grows past
// the hard cap.
bool gateway::shard::falling_behind(socket_state& socket, std::size_t buffered, int64_t now) const {
    if (buffered <= config.send_buffer_bytes) {
        socket.over_limit_since_ms = 0;
        return false;
    }
    if (buffered > slow_hard_factor * config.send_buffer_bytes) return true;
    if (socket.over_limit_since_ms == 0) socket.over_limit_since_ms = now;
    return now - socket.over_limit_since_ms >= slow_grace_ms;
}

// On the io thread: queue each event for its user's sockets here, oldest socket first; they
// are written once the batches already posted have been queued too (flush_writes).
void gateway::shard::send_batch(std::shared_ptr<const std::vector<outgoing>> items) {
    const auto& batch = *items;
    const int64_t now = now_ms();
    ++batch_seq;
    std::vector<connection_hdl> slow;
    for (const auto& item : batch) {
        registry.for_user(item.user, index, [&](const connection_hdl& h) {
            std::error_code ec;
            auto con = server.get_con_from_hdl(h, ec);
            if (ec || con->closing) return;
            if (!con->takes(item.thread_id)) return;
            if (con->catching_up) return hold_live(con, h, item, slow);
            if (!con->splice.empty() && replayed_already(*con, item)) return;
            if (con->batch_seen != batch_seq) {
                con->batch_seen = batch_seq;
                con->buffered_at_batch = unsent_bytes(con);
                if (falling_behind(*con, con->buffered_at_batch, now)) {
                    con->closing = true;  // skip it for the rest of the batch; closed below
                    slow.push_back(h);
                    return;
                }
            }
            if (con->write_round != write_round) {
                con->write_round = write_round;
                con->write_slot = writes.size();
                writes.push_back({con, {}});
            }
            writes[con->write_slot].items.push_back(&item);
            con->sent_event = true;  // on its way: a resume message is too late now
        });
    }
    pending_batches.push_back(std::move(items));
    if (!flush_posted) {
        flush_posted = true;
        asio::post(io, [this] { flush_writes(); });
    }
    for (const auto& h : slow) {
        std::error_code ec;
        auto con = server.get_con_from_hdl(h, ec);
        if (ec) continue;
        con->closing = false;
        log_slow_reader(*con);
        close_socket(h, close_slow_reader, "send buffer full: reconnect and resume", disconnect_reason::slow_reader);
    }
}

void gateway::shard::flush_writes() {
    flush_posted = false;
    const int64_t now = now_ms();
    for (auto& w : writes) write_pending(w, now);
    writes.clear();
    pending_batches.clear();
    ++write_round;
}

void gateway::shard::write_pending(pending_write& w, int64_t now) {
    if (!w.items.empty() && !w.con->closing && !send_frames(w.con, w.items))
        for (const auto* item : w.items) {
            ++metrics.delivered[item->type_index];
            metrics.latency.observe(static_cast<double>(now - item->timestamp_ms) / 1000.0);
        }
    w.items.clear();
}

void gateway::shard::send_text(const connection_ptr& con, const std::string& text) {
    if (con->write_round == write_round) write_pending(writes[con->write_slot], now_ms());
    con->handed += text.size() + 4;  // with its frame header
    con->send(text, websocketpp::frame::opcode::text);
}

std::error_code gateway::shard::send_frames(const connection_ptr& con, const std::vector<const outgoing*>& items) {
    std::size_t queued_from = 0;  // frames from here on go through websocketpp's queue
    if (!items.empty() && !con->is_secure() && !con->get_socket().writing() && con->get_buffered_amount() == 0 &&
        con->get_state() == websocketpp::session::state::open) {
        const std::size_t n = std::min(items.size(), max_gathered_frames);
        iovec parts[2 * max_gathered_frames];
        for (std::size_t i = 0; i < n; ++i) {
            const auto& frame = *items[i]->frame;
            parts[2 * i] = {const_cast<char*>(frame.get_header().data()), frame.get_header().size()};
            parts[2 * i + 1] = {const_cast<char*>(frame.get_payload().data()), frame.get_payload().size()};
        }
        msghdr message{};
        message.msg_iov = parts;
        message.msg_iovlen = 2 * n;
        // Non-blocking; a full socket (EAGAIN), or an error websocketpp meets too, sends nothing.
        const ssize_t sent = ::sendmsg(con->get_raw_socket().native_handle(), &message, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (sent > 0) {
            ++metrics.direct_writes;
            std::size_t left = static_cast<std::size_t>(sent);
            std::size_t part = 0;
            while (part < 2 * n && left >= parts[part].iov_len) left -= parts[part++].iov_len;
            queued_from = part / 2;
            if (part % 2 == 1 || left > 0) {
                // The kernel took part of a frame: the rest of it, as raw bytes, goes out first.
                auto rest = worker.framing_messages->get_message(websocketpp::frame::opcode::text, 0);
                std::string& bytes = rest->get_raw_payload();
                for (std::size_t p = part; p < 2 * queued_from + 2; ++p, left = 0)
                    bytes.append(static_cast<const char*>(parts[p].iov_base) + left, parts[p].iov_len - left);
                rest->set_header("");
                rest->set_prepared(true);
                con->handed += bytes.size();
                if (auto ec = con->send(rest)) return ec;
                ++queued_from;
            }
        }
    }
    for (std::size_t i = queued_from; i < items.size(); ++i) {
        con->handed += items[i]->frame->get_header().size() + items[i]->frame->get_payload().size();
        if (auto ec = con->send(items[i]->frame)) return ec;
    }
    return {};
}

// Live events for a socket still catching up wait, bounded by its send buffer size.
void gateway::shard::hold_live(const connection_ptr& con, connection_hdl h, const outgoing& item, std::vector<connection_hdl>& slow) {
    con->held_bytes += item.frame->get_payload().size();
    if (con->held_bytes > config.send_buffer_bytes) {
        con->closing = true;
        slow.push_back(h);
        return;
    }
    con->held_live.push_back(item);
}

void gateway::shard::stop_replay(uint64_t id) {
    replaying.erase(id);
    {
        std::lock_guard<std::mutex> lock(pace_mutex);
        in_flight.erase(id);
    }
    pace_cv.notify_all();
    if (hooks.cancel_replay) hooks.cancel_replay(id);
}

// On the io thread: one replayed batch for one socket.
void gateway::shard::send_replay(uint64_t id, const std::vector<outgoing>& batch) {
    const auto it = replaying.find(id);
    if (it == replaying.end()) return release_replay_batch(id);
    std::error_code ec;
    auto con = server.get_con_from_hdl(it->second, ec);
    if (ec || con->closing) return release_replay_batch(id);
    std::vector<const outgoing*> items;
    for (const auto& item : batch)
        if (con->takes(item.thread_id)) items.push_back(&item);
    if (!items.empty() && !send_frames(con, items)) con->sent_event = true;
    wait_for_drain(id);
}

// A socket that never drains holds the replay thread until its pace wait times out, which
// ends the replay and closes the socket as a slow reader.
void gateway::shard::wait_for_drain(uint64_t id) {
    const auto it = replaying.find(id);
    std::error_code ec;
    auto con = it == replaying.end() ? nullptr : server.get_con_from_hdl(it->second, ec);
    if (!con || con->closing || con->get_buffered_amount() <= config.send_buffer_bytes / 2)
        return release_replay_batch(id);
    auto timer = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(5));
    timer->async_wait([this, id, timer](const std::error_code& e) {
        if (e) return release_replay_batch(id);
        wait_for_drain(id);
    });
}

void gateway::shard::release_replay_batch(uint64_t id) {
    {
        std::lock_guard<std::mutex> lock(pace_mutex);
        if (auto it = in_flight.find(id); it != in_flight.end()) --it->second;
    }
    pace_cv.notify_all();
}

// On the io thread: the replay ended; splice the held live events and go live.
void gateway::shard::finish_replay(uint64_t id, const consumers::replay_result& result) {
    const auto it = replaying.find(id);
    if (it == replaying.end()) return;
    const connection_hdl h = it->second;
    stop_replay(id);
    std::error_code ec;
    auto con = server.get_con_from_hdl(h, ec);
    if (ec || con->closing) return;
    con->catching_up = false;
    std::vector<outgoing> held = std::move(con->held_live);
    con->held_live.clear();
    con->held_bytes = 0;
    using consumers::replay_status;
    switch (result.status) {
        case replay_status::done:
            con->splice = result.splice;
            send_control(con, "resumed", "{}");
            break;
        case replay_status::failed:
            if (result.reason == "cancelled")
                return close_socket(h, close_slow_reader, "replay too slow: reconnect and resume",
                                    disconnect_reason::slow_reader);
            send_control(con, "resume_failed", "{\"reason\":" + json_string(result.reason) + "}");
            break;
        case replay_status::truncated:
            send_control(con, "resume_truncated", "{\"reason\":" + json_string(result.reason) + "}");
            return close_socket(h, close_slow_reader, "replay cut short: resume from the last id",
                                disconnect_reason::slow_reader);
        case replay_status::unavailable:
            return close_socket(h, close_try_again, "replay unavailable: try again", disconnect_reason::error);
    }
    // A held event at or below the offset the replay read in its partition was replayed.
    std::vector<const outgoing*> items;
    for (const auto& item : held) {
        if (replayed_already(*con, item)) continue;
        if (!con->takes(item.thread_id)) continue;
        items.push_back(&item);
    }
    if (items.empty() || send_frames(con, items)) return;
    con->sent_event = true;
    for (const auto* item : items) ++metrics.delivered[item->type_index];
}

bool gateway::shard::replayed_already(socket_state& socket, const outgoing& item) {
    auto& points = socket.splice;
    for (auto it = points.begin(); it != points.end(); ++it) {
        if (it->partition != item.partition || it->topic != item.topic) continue;
        if (item.offset <= it->last_offset) return true;
        points.erase(it);
        return false;
    }
    return false;
}

void gateway::shard::send_control(const connection_ptr& con, std::string_view type, const std::string& payload) {
    send_text(con, encode_control_frame(type, payload));
}

// Encodes and frames each event once; every socket of the user, on every shard, shares these bytes.
std::vector<outgoing> gateway::impl::frame_events(const std::vector<consumers::event>& batch) {
    std::vector<outgoing> ready;
    ready.reserve(batch.size());
    for (const auto& e : batch) {
        // A server's text frame, unmasked and uncompressed, is the same bytes on every socket;
        // its text was checked as UTF-8 when the record was parsed.
        auto frame = framing_messages->get_message(websocketpp::frame::opcode::text, 0);
        frame->get_raw_payload() =
            encode_event_frame(e.envelope, consumers::format_cursor(e.topic, e.partition, e.offset, e.timestamp_ms));
        frame->set_header(text_frame_header(frame->get_payload().size()));
        frame->set_prepared(true);
        ready.push_back({e.envelope.user_id, e.envelope.thread_id, std::string(e.topic), e.partition, e.offset,
                         event_type_index(e.envelope.type), e.timestamp_ms, std::move(frame)});
    }
    return ready;
}

void gateway::deliver(const std::vector<consumers::event>& batch) {
    auto items = std::make_shared<const std::vector<outgoing>>(impl_->frame_events(batch));
    for (auto& s : impl_->shards) asio::post(s->io, [s = s.get(), items] { s->send_batch(items); });
}

bool gateway::replay_events(uint64_t socket_id, const std::vector<consumers::event>& batch) {
    auto& s = impl_->owner_of(socket_id);
    auto items = impl_->frame_events(batch);
    // Pace the replay to the socket: at most two batches not yet written out (see wait_for_drain).
    {
        std::unique_lock<std::mutex> lock(s.pace_mutex);
        const bool room = s.pace_cv.wait_for(lock, std::chrono::seconds(10), [&] {
            const auto it = s.in_flight.find(socket_id);
            return it == s.in_flight.end() || it->second < 2;
        });
        const auto it = s.in_flight.find(socket_id);
        if (!room || it == s.in_flight.end()) return false;
        ++it->second;
    }
    asio::post(s.io, [&s, socket_id, items = std::move(items)] { s.send_replay(socket_id, items); });
    return true;
}

void gateway::replay_finished(uint64_t socket_id, consumers::replay_result result) {
    auto& s = impl_->owner_of(socket_id);
    asio::post(s.io, [&s, socket_id, result = std::move(result)] { s.finish_replay(socket_id, result); });
}

}  // namespace bridge::gateway
