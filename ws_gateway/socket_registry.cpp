#include "ws_gateway/socket_registry.hpp"

#include <algorithm>

namespace bridge::gateway {

namespace {

bool same(const socket_registry::handle& a, const socket_registry::handle& b) {
    return !a.owner_before(b) && !b.owner_before(a);
}

}  // namespace

std::optional<socket_registry::member> socket_registry::join(const std::string& user, member m) {
    std::unique_lock<std::shared_mutex> lock(mutex_);
    auto& list = by_user_[user];
    list.push_back(std::move(m));
    ++sockets_;
    if (list.size() <= max_per_user_) return std::nullopt;
    member oldest = std::move(list.front());
    list.erase(list.begin());
    --sockets_;
    return oldest;
}

bool socket_registry::leave(const std::string& user, const handle& h) {
    std::unique_lock<std::shared_mutex> lock(mutex_);
    const auto it = by_user_.find(user);
    if (it == by_user_.end()) return false;
    auto& list = it->second;
    const auto pos = std::find_if(list.begin(), list.end(), [&](const member& x) { return same(x.socket, h); });
    if (pos == list.end()) return false;
    list.erase(pos);
    --sockets_;
    if (list.empty()) by_user_.erase(it);
    return true;
}

bool socket_registry::has_user(const std::string& user) const {
    std::shared_lock<std::shared_mutex> lock(mutex_);
    return by_user_.find(user) != by_user_.end();
}

}  // namespace bridge::gateway
