#pragma once
#include <cstddef>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace bridge::gateway {

// The sockets this worker holds, by user, oldest first. Handles are weak: the registry
// never keeps a connection alive.
// Threads: join/leave/sockets_of run on the io thread only; has_user may run on any thread.
class socket_registry {
public:
    using handle = std::weak_ptr<void>;

    explicit socket_registry(std::size_t max_per_user) : max_per_user_(max_per_user) {}

    // Adds a socket. If the user now has too many, removes and returns the oldest.
    std::optional<handle> join(const std::string& user, handle h);

    // Removes a socket; returns false if it was not there (already displaced).
    bool leave(const std::string& user, const handle& h);

    // The user's sockets, or nullptr. Valid until the next join/leave.
    const std::vector<handle>* sockets_of(const std::string& user) const;

    bool has_user(const std::string& user) const;

    std::size_t socket_count() const { return sockets_; }

    // Calls f(handle) for every socket, e.g. to ping or close them all.
    template <typename F>
    void for_each(F&& f) const {
        for (const auto& [user, list] : by_user_)
            for (const auto& h : list) f(h);
    }

private:
    std::size_t max_per_user_;
    std::size_t sockets_ = 0;
    mutable std::shared_mutex mutex_;  // guards by_user_ against the reading thread
    std::unordered_map<std::string, std::vector<handle>> by_user_;
};

}  // namespace bridge::gateway
