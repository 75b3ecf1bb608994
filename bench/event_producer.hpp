// The load generator's Kafka side: agent_thinking events keyed by user (murmur2_random,
// like Java and kafkajs producers), each carrying its send time and a per-user sequence.
#pragma once

#include <librdkafka/rdkafkacpp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace bench {

struct producer_options {
    std::string brokers;
    std::string topic;
    int linger_ms = 1;
    std::size_t payload_bytes = 256;  // size of the record value, at least the envelope
};

// Envelope of one event; the payload's sent_ns and seq are what the clients read back.
std::string make_event(const std::string& user, std::int64_t sent_ns, std::uint64_t seq,
                       const std::string& pad);

class event_producer : public RdKafka::DeliveryReportCb {
public:
    event_producer(const producer_options& opts, std::vector<std::string> users);
    ~event_producer() override;

    // Asks the broker for the topic's metadata; false if it did not answer in time.
    bool wait_ready(int timeout_ms);
    // Sends the next event of user u, stamped now; false when librdkafka refused it
    // (other than a full queue, which is waited out).
    bool send(std::size_t u);
    void poll(int timeout_ms) { producer_->poll(timeout_ms); }
    // Waits for every outstanding delivery report; returns the records still unsent.
    int flush(int timeout_ms);

    std::uint64_t sent() const { return sent_; }
    std::uint64_t acked() const { return acked_; }
    std::uint64_t failed() const { return failed_; }
    // Records the broker acknowledged for user u: what its sockets should receive.
    std::uint64_t acked_of(std::size_t u) const { return acked_per_user_[u]; }
    const std::string& first_error() const { return first_error_; }

    void dr_cb(RdKafka::Message& message) override;

private:
    producer_options opts_;
    std::vector<std::string> users_;
    std::vector<std::uint64_t> next_seq_;
    std::vector<std::uint64_t> acked_per_user_;
    std::string pad_;
    std::unique_ptr<RdKafka::Producer> producer_;
    std::uint64_t sent_ = 0, acked_ = 0, failed_ = 0;
    std::string first_error_;
};

}  // namespace bench
