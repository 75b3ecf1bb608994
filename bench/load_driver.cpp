#include "load_driver.hpp"

#include "event_producer.hpp"
#include "jwt_mint.hpp"
#include "proc_stats.hpp"
#include "realtime_clock.hpp"
#include "shared_stats.hpp"
#include "socket_fleet.hpp"

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <thread>

namespace bench {
namespace {

using steady = std::chrono::steady_clock;
using json_writer = rapidjson::PrettyWriter<rapidjson::StringBuffer>;

double seconds_since(steady::time_point t) {
    return std::chrono::duration<double>(steady::now() - t).count();
}

// Raises the soft descriptor limit to the hard one; returns the limit in force.
std::size_t raise_fd_limit() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    return static_cast<std::size_t>(rl.rlim_cur);
}

// What one bridge process used: samples before connecting, at the window's ends, at the end.
struct worker_samples {
    pid_t pid;
    std::optional<proc_sample> before, connected, start, end;
};

void sample_all(std::vector<worker_samples>& ws, std::optional<proc_sample> worker_samples::*when) {
    for (auto& w : ws) w.*when = sample_process(w.pid);
}

// Sum of the CPU seconds of a set of processes (the load generator's own).
double cpu_of(const std::vector<pid_t>& pids) {
    double total = 0;
    for (auto p : pids)
        if (auto s = sample_process(p)) total += s->cpu_s;
    return total;
}

std::vector<pid_t> spawn_socket_procs(fleet_options base, shared_stats& stats) {
    std::vector<pid_t> children;
    for (std::size_t i = 0; i < base.procs; ++i) {
        pid_t pid = fork();
        if (pid < 0) throw std::runtime_error("fork failed");
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the parent
            base.proc_index = i;
            try {
                run_socket_fleet(base, stats);
            } catch (const std::exception& e) {
                std::fprintf(stderr, "bench_loadgen: socket process %zu: %s\n", i, e.what());
                _exit(3);
            }
            _exit(0);  // the kernel closes the sockets; counters are in shared memory
        }
        children.push_back(pid);
    }
    return children;
}

bool all_connected(shared_stats& stats) {
    for (std::size_t i = 0; i < stats.procs(); ++i)
        if (!stats.proc(i).connect_done.load()) return false;
    return true;
}

void wait_connected(shared_stats& stats, const load_options& o) {
    auto t0 = steady::now();
    auto last = t0;
    while (!all_connected(stats)) {
        if (seconds_since(t0) > o.connect_timeout_s) {
            std::fprintf(stderr, "[loadgen] connect timeout after %.0f s\n", o.connect_timeout_s);
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (std::chrono::duration<double>(steady::now() - last).count() >= 1) {
            last = steady::now();
            std::fprintf(stderr, "[loadgen] %5.1fs connecting: %llu open, %llu failed of %zu\n", seconds_since(t0),
                         static_cast<unsigned long long>(stats.sum(&socket_proc_stats::opened)),
                         static_cast<unsigned long long>(stats.sum(&socket_proc_stats::failed)), o.sockets);
        }
    }
}

// Everything the output reports, gathered from the run.
struct run_record {
    std::size_t procs = 0, fd_limit = 0;
    double connect_s = 0, window_s = 0, drain_s = 0, production_s = 0;
    std::uint64_t sent = 0, acked = 0, produce_failed = 0, expected = 0;
    std::string produce_error;
    std::vector<worker_samples> workers;
    double producer_cpu_window_s = 0;   // this process: the producer
    double sockets_cpu_window_s = 0;    // the socket processes
};

// Produces for the configured time; returns with the window closed.
class production {
public:
    production(const load_options& o, shared_stats& stats, std::vector<std::string> users)
        : o_(o), stats_(stats), producer_({o.brokers, o.topic, o.linger_ms, o.payload_bytes}, std::move(users)) {
        for (std::size_t u = 0; u < o.users; ++u) socks_.push_back(stats.sockets_of_user(u).load());
        double gap_us = o.rate > 0 ? 1e6 / o.rate : 200;
        pause_ = std::chrono::microseconds(static_cast<long>(std::clamp(gap_us, 50.0, 1000.0)));
        if (!producer_.wait_ready(10000)) throw std::runtime_error("no metadata for topic " + o.topic + " from " + o.brokers);
    }

    void run(run_record& rec, const std::vector<pid_t>& children) {
        auto& control = stats_.control();
        auto t0 = steady::now();
        std::int64_t start_ns = realtime_ns() + static_cast<std::int64_t>(o_.warmup_s * 1e9);
        control.window_start_ns.store(start_ns);
        bool started = false;
        double parent_cpu0 = 0, children_cpu0 = 0, next_report = 1;
        const std::vector<pid_t> self{getpid()};
        std::uint64_t last_sent = 0, last_frames = 0;
        for (double t = 0; t < o_.duration_s; t = seconds_since(t0)) {
            if (!started && t >= o_.warmup_s) {
                started = true;
                sample_all(rec.workers, &worker_samples::start);
                parent_cpu0 = cpu_of(self);
                children_cpu0 = cpu_of(children);
            }
            // Idle: wait for the next token (at most 1 ms, tokens then go out in small bursts).
            if (send_some(t) == 0) std::this_thread::sleep_for(pause_);
            producer_.poll(0);
            if (t >= next_report) {
                std::uint64_t frames = stats_.sum(&socket_proc_stats::frames);
                report(t, producer_.sent() - last_sent, frames - last_frames, frames);
                last_sent = producer_.sent();
                last_frames = frames;
                next_report += 1;
            }
        }
        std::int64_t end_ns = realtime_ns();
        control.window_end_ns.store(end_ns);
        sample_all(rec.workers, &worker_samples::end);
        if (started) {
            rec.producer_cpu_window_s = cpu_of(self) - parent_cpu0;
            rec.sockets_cpu_window_s = cpu_of(children) - children_cpu0;
        }
        rec.production_s = seconds_since(t0);
        rec.window_s = std::max(0.0, static_cast<double>(end_ns - start_ns) / 1e9);
    }

    // Waits for the broker's acknowledgements, then for the sockets to receive the rest.
    void drain(run_record& rec) {
        auto t0 = steady::now();
        producer_.flush(30000);
        rec.sent = producer_.sent();
        rec.acked = producer_.acked();
        rec.produce_failed = producer_.failed();
        rec.produce_error = producer_.first_error();
        rec.expected = 0;
        for (std::size_t u = 0; u < o_.users; ++u) rec.expected += producer_.acked_of(u) * socks_[u];
        std::uint64_t frames = stats_.sum(&socket_proc_stats::frames), last = frames;
        auto progress_at = steady::now();
        while (frames < rec.expected && seconds_since(progress_at) < o_.drain_s) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            frames = stats_.sum(&socket_proc_stats::frames);
            if (frames != last) { last = frames; progress_at = steady::now(); }
        }
        rec.drain_s = seconds_since(t0);
        std::fprintf(stderr, "[loadgen] drained in %.1fs: %llu of %llu deliveries\n", rec.drain_s,
                     static_cast<unsigned long long>(frames), static_cast<unsigned long long>(rec.expected));
    }

private:
    // Sends what the token bucket or the in-flight window allows now; returns how many.
    std::size_t send_some(double t) {
        std::size_t n = 0;
        if (o_.rate > 0) {
            auto due = static_cast<std::uint64_t>(o_.rate * t);
            std::uint64_t sent = producer_.sent() + producer_.failed();
            n = due > sent ? static_cast<std::size_t>(std::min<std::uint64_t>(due - sent, 5000)) : 0;
            for (std::size_t i = 0; i < n; ++i) send_next();
            return n;
        }
        std::uint64_t frames = stats_.sum(&socket_proc_stats::frames);
        for (; n < 2000 && expected_sent_ < frames + o_.max_inflight; ++n) send_next();
        return n;
    }

    void send_next() {
        std::size_t u = next_user_;
        next_user_ = (next_user_ + 1) % o_.users;
        // A user without sockets expects nothing; still counted as produced load.
        if (producer_.send(u)) expected_sent_ += socks_[u] ? socks_[u] : 0;
    }

    void report(double t, std::uint64_t sent, std::uint64_t frames, std::uint64_t total_frames) {
        std::fprintf(stderr, "[loadgen] %5.1fs sent %llu/s delivered %llu/s inflight %lld closed %llu\n", t,
                     static_cast<unsigned long long>(sent), static_cast<unsigned long long>(frames),
                     static_cast<long long>(expected_sent_) - static_cast<long long>(total_frames),
                     static_cast<unsigned long long>(stats_.sum(&socket_proc_stats::closed_early)));
    }

    const load_options& o_;
    shared_stats& stats_;
    event_producer producer_;
    std::vector<std::uint64_t> socks_;
    std::uint64_t expected_sent_ = 0;
    std::size_t next_user_ = 0;
    std::chrono::microseconds pause_{200};
};

void write_worker(json_writer& w, const worker_samples& ws, const run_record& rec, std::uint64_t connected,
                  bool idle) {
    w.StartObject();
    w.Key("pid"); w.Int(ws.pid);
    w.Key("alive_at_end"); w.Bool(ws.end.has_value());
    if (ws.before) { w.Key("rss_kb_before"); w.Int64(ws.before->rss_kb); }
    if (ws.connected) { w.Key("rss_kb_connected"); w.Int64(ws.connected->rss_kb); }
    if (ws.end) { w.Key("rss_kb_end"); w.Int64(ws.end->rss_kb); w.Key("rss_kb_peak"); w.Int64(ws.end->hwm_kb); }
    if (!idle && ws.start && ws.end && rec.window_s > 0) {
        double cpu = ws.end->cpu_s - ws.start->cpu_s;
        w.Key("cpu_s"); w.Double(cpu);
        w.Key("cpu_pct"); w.Double(100.0 * cpu / rec.window_s);
    }
    (void)connected;
    w.EndObject();
}

void write_latency(json_writer& w, shared_stats& stats) {
    std::vector<std::uint64_t> counts(kHistogramBuckets, 0);
    std::uint64_t total = 0, sum_ns = 0;
    std::size_t max_bucket = 0;
    for (std::size_t p = 0; p < stats.procs(); ++p)
        for (std::size_t i = 0; i < kHistogramBuckets; ++i) counts[i] += stats.proc(p).latency[i].load();
    for (std::size_t i = 0; i < kHistogramBuckets; ++i) {
        total += counts[i];
        sum_ns += counts[i] * bucket_value(i);
        if (counts[i]) max_bucket = i;
    }
    auto ms = [](std::uint64_t ns) { return static_cast<double>(ns) / 1e6; };
    w.Key("latency_ms");
    w.StartObject();
    w.Key("count"); w.Uint64(total);
    w.Key("mean"); w.Double(total ? ms(sum_ns / total) : 0);
    w.Key("p50"); w.Double(ms(quantile(counts, 0.50)));
    w.Key("p90"); w.Double(ms(quantile(counts, 0.90)));
    w.Key("p99"); w.Double(ms(quantile(counts, 0.99)));
    w.Key("p999"); w.Double(ms(quantile(counts, 0.999)));
    w.Key("max"); w.Double(total ? ms(bucket_value(max_bucket)) : 0);
    w.EndObject();
}

void write_sockets(json_writer& w, shared_stats& stats, const load_options& o, const run_record& rec) {
    w.Key("sockets");
    w.StartObject();
    w.Key("requested"); w.Uint64(o.sockets);
    w.Key("opened"); w.Uint64(stats.sum(&socket_proc_stats::opened));
    w.Key("failed"); w.Uint64(stats.sum(&socket_proc_stats::failed));
    w.Key("http_401"); w.Uint64(stats.sum(&socket_proc_stats::http_401));
    w.Key("http_503"); w.Uint64(stats.sum(&socket_proc_stats::http_503));
    w.Key("closed_early"); w.Uint64(stats.sum(&socket_proc_stats::closed_early));
    w.Key("close_codes");
    w.StartObject();
    for (std::size_t i = 0; i <= kCountedCloseCount; ++i) {
        std::uint64_t n = 0;
        for (std::size_t p = 0; p < stats.procs(); ++p) n += stats.proc(p).close_codes[i].load();
        if (!n) continue;
        w.Key(i < kCountedCloseCount ? std::to_string(kCountedCloseCodes[i]).c_str() : "other");
        w.Uint64(n);
    }
    w.EndObject();
    w.Key("connect_s"); w.Double(rec.connect_s);
    w.Key("socket_procs"); w.Uint64(rec.procs);
    w.Key("fd_limit"); w.Uint64(rec.fd_limit);
    w.Key("source_addrs"); w.Uint(o.source_addrs);
    w.EndObject();
}

void write_delivery(json_writer& w, shared_stats& stats, const run_record& rec) {
    std::uint64_t frames = stats.sum(&socket_proc_stats::frames);
    std::uint64_t window_frames = stats.sum(&socket_proc_stats::window_frames);
    w.Key("produced");
    w.StartObject();
    w.Key("sent"); w.Uint64(rec.sent);
    w.Key("acked"); w.Uint64(rec.acked);
    w.Key("failed"); w.Uint64(rec.produce_failed);
    if (!rec.produce_error.empty()) { w.Key("first_error"); w.String(rec.produce_error.c_str()); }
    w.Key("events_per_s"); w.Double(rec.production_s > 0 ? static_cast<double>(rec.sent) / rec.production_s : 0);
    w.EndObject();
    w.Key("delivered");
    w.StartObject();
    w.Key("frames"); w.Uint64(frames);
    w.Key("expected"); w.Uint64(rec.expected);
    w.Key("lost"); w.Uint64(rec.expected > frames ? rec.expected - frames : 0);
    w.Key("duplicates"); w.Uint64(stats.sum(&socket_proc_stats::duplicates));
    w.Key("gaps"); w.Uint64(stats.sum(&socket_proc_stats::gaps));
    w.Key("other_frames"); w.Uint64(stats.sum(&socket_proc_stats::other_frames));
    w.Key("bytes"); w.Uint64(stats.sum(&socket_proc_stats::bytes));
    w.Key("window_s"); w.Double(rec.window_s);
    w.Key("window_frames"); w.Uint64(window_frames);
    w.Key("frames_per_s"); w.Double(rec.window_s > 0 ? static_cast<double>(window_frames) / rec.window_s : 0);
    w.Key("drain_s"); w.Double(rec.drain_s);
    w.EndObject();
}

void write_results(std::ostream& out, shared_stats& stats, const load_options& o, const run_record& rec) {
    rapidjson::StringBuffer buf;
    json_writer w(buf);
    w.StartObject();
    w.Key("label"); w.String(o.label.c_str());
    w.Key("config");
    w.StartObject();
    w.Key("urls"); w.StartArray(); for (auto& u : o.urls) w.String(u.c_str()); w.EndArray();
    w.Key("users"); w.Uint64(o.users);
    w.Key("sockets"); w.Uint64(o.sockets);
    w.Key("rate"); w.Double(o.rate);
    w.Key("duration_s"); w.Double(o.duration_s);
    w.Key("warmup_s"); w.Double(o.warmup_s);
    w.Key("payload_bytes"); w.Uint64(o.payload_bytes);
    w.Key("max_inflight"); w.Uint64(o.max_inflight);
    w.Key("idle"); w.Bool(o.idle);
    w.EndObject();
    write_sockets(w, stats, o, rec);
    std::uint64_t opened = stats.sum(&socket_proc_stats::opened);
    if (o.idle) {
        long delta_kb = 0;
        for (auto& ws : rec.workers)
            if (ws.before && ws.connected) delta_kb += ws.connected->rss_kb - ws.before->rss_kb;
        w.Key("idle");
        w.StartObject();
        w.Key("rss_delta_kb"); w.Int64(delta_kb);
        w.Key("rss_per_socket_bytes"); w.Double(opened ? 1024.0 * static_cast<double>(delta_kb) / static_cast<double>(opened) : 0);
        w.EndObject();
    } else {
        write_delivery(w, stats, rec);
        write_latency(w, stats);
        double pct = rec.window_s > 0 ? 100.0 / rec.window_s : 0;
        w.Key("loadgen_cpu_pct");
        w.StartObject();
        w.Key("producer"); w.Double(rec.producer_cpu_window_s * pct);
        w.Key("sockets"); w.Double(rec.sockets_cpu_window_s * pct);
        w.EndObject();
    }
    w.Key("workers");
    w.StartArray();
    for (auto& ws : rec.workers) write_worker(w, ws, rec, opened, o.idle);
    w.EndArray();
    w.EndObject();
    out << buf.GetString() << std::endl;
}

std::vector<std::string> user_names(const load_options& o) {
    std::vector<std::string> users;
    users.reserve(o.users);
    for (std::size_t u = 0; u < o.users; ++u) users.push_back(o.user_prefix + std::to_string(u));
    return users;
}

void stop_children(shared_stats& stats, const std::vector<pid_t>& children) {
    stats.control().stop.store(1);
    for (auto pid : children) {
        int status = 0;
        waitpid(pid, &status, 0);
    }
}

}  // namespace

int run_load(const load_options& o, std::ostream& out) {
    if (o.urls.empty()) throw std::runtime_error("no --url");
    if (o.users == 0 || o.sockets == 0) throw std::runtime_error("--users and --sockets must be positive");
    run_record rec;
    rec.fd_limit = raise_fd_limit();
    std::size_t per_proc = rec.fd_limit > 512 ? rec.fd_limit - 256 : rec.fd_limit / 2;
    rec.procs = o.procs ? o.procs : (o.sockets + per_proc - 1) / per_proc;

    // Tokens before fork: the socket processes inherit them.
    auto users = user_names(o);
    fleet_options fo;
    fo.urls = o.urls;
    fo.users = o.users;
    fo.sockets = o.sockets;
    fo.procs = rec.procs;
    fo.source_addrs = o.source_addrs;
    fo.connect_concurrency = std::max<std::size_t>(1, o.connect_concurrency / rec.procs);
    std::int64_t exp = realtime_ns() / 1000000000 + 6 * 3600;
    for (auto& u : users) fo.tokens.push_back(mint_hs256(o.jwt_secret, u, exp));

    for (int pid : o.pids) rec.workers.push_back({static_cast<pid_t>(pid), {}, {}, {}, {}});
    sample_all(rec.workers, &worker_samples::before);
    shared_stats stats(rec.procs, o.users);
    auto t0 = steady::now();
    auto children = spawn_socket_procs(fo, stats);
    wait_connected(stats, o);
    rec.connect_s = seconds_since(t0);
    std::fprintf(stderr, "[loadgen] %llu of %zu sockets open in %.1fs (%zu processes)\n",
                 static_cast<unsigned long long>(stats.sum(&socket_proc_stats::opened)), o.sockets, rec.connect_s,
                 rec.procs);

    if (o.idle) {
        std::this_thread::sleep_for(std::chrono::duration<double>(o.settle_s));
        sample_all(rec.workers, &worker_samples::connected);
        sample_all(rec.workers, &worker_samples::end);
    } else {
        sample_all(rec.workers, &worker_samples::connected);
        production prod(o, stats, users);
        prod.run(rec, children);
        prod.drain(rec);
    }
    stop_children(stats, children);
    write_results(out, stats, o, rec);
    return 0;
}

}  // namespace bench
