#pragma once
#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace bridge::gateway {

// The sockets this worker holds, by user, oldest first, each tagged with the io thread that
// owns it. One registry for every io thread, so the per-user cap holds across them. Handles
// are weak: the registry never keeps a connection alive.
// Threads: every member may be called from any thread. The visitors (for_each, for_user)
// hold the registry's read lock while they call f: f must not join or leave.
class socket_registry {
public:
    using handle = std::weak_ptr<void>;
    struct member {
        handle socket;
        std::size_t io_thread = 0;
    };

    explicit socket_registry(std::size_t max_per_user) : max_per_user_(max_per_user) {}

    // Adds a socket. If the user now has too many, removes and returns the oldest.
    std::optional<member> join(const std::string& user, member m);

    // Removes a socket; returns false if it was not there (already displaced).
    bool leave(const std::string& user, const handle& h);

    bool has_user(const std::string& user) const;

    std::size_t socket_count() const { return sockets_.load(std::memory_order_relaxed); }

    // Calls f(handle) for each of the user's sockets that io_thread owns, oldest first.
    template <typename F>
    void for_user(const std::string& user, std::size_t io_thread, F&& f) const {
        std::shared_lock<std::shared_mutex> lock(mutex_);
        const auto it = by_user_.find(user);
        if (it == by_user_.end()) return;
        for (const auto& m : it->second)
            if (m.io_thread == io_thread) f(m.socket);
    }

    // Calls f(handle) for every socket io_thread owns, e.g. to ping or close them all.
    template <typename F>
    void for_each(std::size_t io_thread, F&& f) const {
        std::shared_lock<std::shared_mutex> lock(mutex_);
        for (const auto& [user, list] : by_user_)
            for (const auto& m : list)
                if (m.io_thread == io_thread) f(m.socket);
    }

private:
    std::size_t max_per_user_;
    std::atomic<std::size_t> sockets_{0};
    mutable std::shared_mutex mutex_;  // guards by_user_
    std::unordered_map<std::string, std::vector<member>> by_user_;
};

}  // namespace bridge::gateway
