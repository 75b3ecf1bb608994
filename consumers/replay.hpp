#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "consumers/event_sink.hpp"

namespace bridge::consumers {

// What one socket asks to be replayed from Kafka before it goes live.
struct replay_request {
    uint64_t socket_id = 0;
    std::string user_id;
    std::string cursor;     // resume: the last id the client saw (consumers/cursor.hpp)
    int64_t since_ms = -1;  // late join: from this time, when there is no cursor
    std::string run_id;     // late join: only this run, when set
};

enum class replay_status {
    done,         // everything up to the splice points was replayed
    truncated,    // the per-connection cap was reached; resume again from the last id sent
    failed,       // the cursor cannot be honoured (reason says why); the client must reload
    unavailable,  // Kafka did not answer or the worker is busy; retry later with the same cursor
};

// The last offset the replay read in one partition: live records at or below it were
// covered by the replay and must not be sent again on that socket.
struct splice_point {
    std::string topic;
    int32_t partition = 0;
    int64_t last_offset = -1;
};

struct replay_result {
    replay_status status = replay_status::done;
    std::string reason;  // failed: expired, unknown_cursor, bad_cursor, unknown_topic
    std::vector<splice_point> splice;
};

// Where replayed events go; called on a replay thread, one request at a time per socket.
class replay_sink {
public:
    virtual ~replay_sink() = default;
    // Hands over a batch in record order per partition. May block to pace the replay to
    // the socket; returns false when the socket is gone and the replay should stop.
    virtual bool replay_events(uint64_t socket_id, const std::vector<event>& batch) = 0;
    // Ends the replay. Called exactly once per request.
    virtual void replay_finished(uint64_t socket_id, replay_result result) = 0;
};

}  // namespace bridge::consumers
