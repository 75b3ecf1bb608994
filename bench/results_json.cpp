#include "results_json.hpp"

#include "histogram.hpp"

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <string>
#include <vector>

namespace bench {
namespace {

using json_writer = rapidjson::PrettyWriter<rapidjson::StringBuffer>;

void write_worker(json_writer& w, const worker_samples& ws, const run_record& rec, bool idle) {
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

}  // namespace

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
    for (auto& ws : rec.workers) write_worker(w, ws, rec, o.idle);
    w.EndArray();
    w.EndObject();
    out << buf.GetString() << std::endl;
}

}  // namespace bench
