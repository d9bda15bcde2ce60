// Ambit's only native code: the socket operations Node.js lacks for the in-pod data path.
//
//   socketInNetns(netnsPath, family) -> fd   TCP socket created inside a network namespace
//   closeNetns(netnsPath) -> bool            drop the cached namespace fd (pod removed)
//   bindTo(fd, ip, port, reuseAddr, reusePort)   bind (listeners, IP_TRANSPARENT source binding);
//                                            an AF_INET6 socket is made IPv6-only first
//   setNetnsSysctl(netnsPath, key, value)    write /proc/sys/<key> (net/... only) of a namespace
//   getOriginalDst(fd) -> {address, port, family} | undefined   SO_ORIGINAL_DST
//   setMark(fd, mark)                        SO_MARK
//   setTransparent(fd)                       IP_TRANSPARENT / IPV6_TRANSPARENT
//
// setns(CLONE_NEWNET) moves only the calling thread; only socket() has to run inside the
// namespace (bind, listen, connect and setsockopt follow the socket). Every fd is created
// SOCK_NONBLOCK|SOCK_CLOEXEC (libuv does not set CLOEXEC on fds it adopts).
#include <napi.h>

#include <arpa/inet.h>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <linux/netfilter_ipv4.h>
#include <netinet/in.h>
#include <sched.h>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_map>

#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

namespace {

struct CachedNs {
  int fd;
  dev_t dev;
  ino_t ino;
};

// Only the JS thread calls in, so a plain map is enough.
std::unordered_map<std::string, CachedNs> nsCache;

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const std::string& what) {
  std::string msg = std::string(syscall) + " " + what + ": " + strerror(err);
  Napi::Error e = Napi::Error::New(env, msg);
  const char* name = nullptr;
  switch (err) {
    case ENOENT: name = "ENOENT"; break;
    case EPERM: name = "EPERM"; break;
    case EACCES: name = "EACCES"; break;
    case EINVAL: name = "EINVAL"; break;
    case EBADF: name = "EBADF"; break;
    case EADDRINUSE: name = "EADDRINUSE"; break;
    case EADDRNOTAVAIL: name = "EADDRNOTAVAIL"; break;
    case EMFILE: name = "EMFILE"; break;
    case ENFILE: name = "ENFILE"; break;
    case ENOTSOCK: name = "ENOTSOCK"; break;
    case ENOPROTOOPT: name = "ENOPROTOOPT"; break;
    default: break;
  }
  e.Set("code", name ? Napi::String::New(env, name) : Napi::String::New(env, "E" + std::to_string(err)));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

// The namespace fd for `path`, reopened when the path now names another namespace (a pod
// recreated at the same path) so a stale namespace is never used.
int NetnsFd(Napi::Env env, const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    int err = errno;
    auto it = nsCache.find(path);
    if (it != nsCache.end()) {
      close(it->second.fd);
      nsCache.erase(it);
    }
    throw ErrnoError(env, err, "stat", path);
  }
  auto it = nsCache.find(path);
  if (it != nsCache.end()) {
    if (it->second.dev == st.st_dev && it->second.ino == st.st_ino) return it->second.fd;
    close(it->second.fd);
    nsCache.erase(it);
  }
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw ErrnoError(env, errno, "open", path);
  struct stat fst;
  if (fstat(fd, &fst) != 0) {
    int err = errno;
    close(fd);
    throw ErrnoError(env, err, "fstat", path);
  }
  nsCache[path] = CachedNs{fd, fst.st_dev, fst.st_ino};
  return fd;
}

// The JS thread's own namespace, opened once: the thread always returns to it after a socket
// is made elsewhere, so the fd stays valid (an open of /proc per socket cost as much as setns).
int SelfNetnsFd(Napi::Env env) {
  static int self = -1;
  if (self < 0) {
    self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0) throw ErrnoError(env, errno, "open", "/proc/thread-self/ns/net");
  }
  return self;
}

int FdArg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a file descriptor (number)");
  }
  int fd = info[i].As<Napi::Number>().Int32Value();
  if (fd < 0) throw Napi::TypeError::New(info.Env(), "file descriptor must be >= 0");
  return fd;
}

Napi::Value SocketInNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber()) {
    throw Napi::TypeError::New(env, "socketInNetns(netnsPath: string, family: 4 | 6, type?: 'tcp' | 'udp')");
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int family = info[1].As<Napi::Number>().Int32Value();
  if (family != 4 && family != 6) throw Napi::TypeError::New(env, "family must be 4 or 6");
  // Optional third argument: "udp" for a datagram socket (the DNS proxy), else TCP.
  int type = SOCK_STREAM;
  if (info.Length() >= 3 && info[2].IsString()) {
    std::string t = info[2].As<Napi::String>().Utf8Value();
    if (t == "udp") type = SOCK_DGRAM;
    else if (t != "tcp") throw Napi::TypeError::New(env, "type must be 'tcp' or 'udp'");
  }
  int target = NetnsFd(env, path);

  int self = SelfNetnsFd(env);
  if (setns(target, CLONE_NEWNET) != 0) throw ErrnoError(env, errno, "setns", path);
  int fd = socket(family == 6 ? AF_INET6 : AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int sockErr = errno;
  if (setns(self, CLONE_NEWNET) != 0) {
    // The JS thread would keep running in a pod's namespace: every later socket would
    // silently belong to that pod. There is no safe way on.
    fprintf(stderr, "ambit: FATAL: cannot return to the agent's network namespace after %s: %s\n",
            path.c_str(), strerror(errno));
    abort();
  }
  if (fd < 0) throw ErrnoError(env, sockErr, "socket", path);
  return Napi::Number::New(env, fd);
}

Napi::Value SetNetnsSysctl(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsString() || !info[2].IsString()) {
    throw Napi::TypeError::New(env, "setNetnsSysctl(netnsPath: string, key: string, value: string)");
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::string key = info[1].As<Napi::String>().Utf8Value();
  std::string value = info[2].As<Napi::String>().Utf8Value();
  if (key.rfind("net/", 0) != 0 || key.find("..") != std::string::npos) {
    throw Napi::TypeError::New(env, "setNetnsSysctl: only net/... keys of the namespace");
  }
  int target = NetnsFd(env, path);
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) throw ErrnoError(env, errno, "open", "/proc/thread-self/ns/net");
  if (setns(target, CLONE_NEWNET) != 0) {
    int err = errno;
    close(self);
    throw ErrnoError(env, err, "setns", path);
  }
  // /proc/sys/net resolves against the opening thread's namespace; the open file keeps it.
  std::string file = "/proc/sys/" + key;
  int fd = open(file.c_str(), O_WRONLY | O_CLOEXEC);
  int openErr = errno;
  if (setns(self, CLONE_NEWNET) != 0) {
    fprintf(stderr, "ambit: FATAL: cannot return to the agent's network namespace after %s: %s\n",
            path.c_str(), strerror(errno));
    abort();
  }
  close(self);
  if (fd < 0) throw ErrnoError(env, openErr, "open", file);
  ssize_t n = write(fd, value.data(), value.size());
  int writeErr = errno;
  close(fd);
  if (n < 0) throw ErrnoError(env, writeErr, "write", file);
  return env.Undefined();
}

Napi::Value CloseNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "closeNetns(netnsPath: string)");
  auto it = nsCache.find(info[0].As<Napi::String>().Utf8Value());
  if (it == nsCache.end()) return Napi::Boolean::New(env, false);
  close(it->second.fd);
  nsCache.erase(it);
  return Napi::Boolean::New(env, true);
}

Napi::Value CachedNetnsCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(nsCache.size()));
}

Napi::Value BindTo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  if (info.Length() < 3 || !info[1].IsString() || !info[2].IsNumber()) {
    throw Napi::TypeError::New(env, "bindTo(fd, ip: string, port: number, reuseAddr?: boolean)");
  }
  std::string ip = info[1].As<Napi::String>().Utf8Value();
  int port = info[2].As<Napi::Number>().Int32Value();
  if (port < 0 || port > 65535) throw Napi::RangeError::New(env, "port must be 0..65535");
  bool reuse = info.Length() > 3 && info[3].ToBoolean().Value();
  bool reusePort = info.Length() > 4 && info[4].ToBoolean().Value();
  int one = 1;
  if (reuse) {
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) throw ErrnoError(env, errno, "setsockopt", "SO_REUSEADDR");
  }
  // Several listeners on one port (an old and a new agent during a restart): the kernel
  // spreads new connections over them, and with tcp_migrate_req a closing one hands its
  // queue to the others.
  if (reusePort) {
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) throw ErrnoError(env, errno, "setsockopt", "SO_REUSEPORT");
  }
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t len;
  auto* v4 = reinterpret_cast<struct sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<struct sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    // IPv4 goes to its own AF_INET socket: a v4-mapped connection on an AF_INET6 listener
    // would have no IPv6 original destination.
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) throw ErrnoError(env, errno, "setsockopt", "IPV6_V6ONLY");
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof *v6;
  } else {
    throw Napi::TypeError::New(env, "bindTo: not an IP literal: " + ip);
  }
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&ss), len) != 0) throw ErrnoError(env, errno, "bind", ip + ":" + std::to_string(port));
  return env.Undefined();
}

int SocketFamily(Napi::Env env, int fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<struct sockaddr*>(&ss), &len) != 0) throw ErrnoError(env, errno, "getsockname", "fd " + std::to_string(fd));
  return ss.ss_family;
}

Napi::Value GetOriginalDst(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  int family = SocketFamily(env, fd);
  Napi::Object out = Napi::Object::New(env);
  char buf[INET6_ADDRSTRLEN];
  if (family == AF_INET6) {
    struct sockaddr_in6 addr;
    socklen_t len = sizeof addr;
    if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &addr, &len) != 0) {
      // ENOENT: no conntrack entry with a NAT (not redirected, or conntrack inactive).
      if (errno == ENOENT) return env.Undefined();
      throw ErrnoError(env, errno, "getsockopt", "IP6T_SO_ORIGINAL_DST");
    }
    inet_ntop(AF_INET6, &addr.sin6_addr, buf, sizeof buf);
    out.Set("address", buf);
    out.Set("port", ntohs(addr.sin6_port));
    out.Set("family", 6);
    return out;
  }
  struct sockaddr_in addr;
  socklen_t len = sizeof addr;
  if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &addr, &len) != 0) {
    if (errno == ENOENT) return env.Undefined();
    throw ErrnoError(env, errno, "getsockopt", "SO_ORIGINAL_DST");
  }
  inet_ntop(AF_INET, &addr.sin_addr, buf, sizeof buf);
  out.Set("address", buf);
  out.Set("port", ntohs(addr.sin_port));
  out.Set("family", 4);
  return out;
}

Napi::Value SetMark(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  if (info.Length() < 2 || !info[1].IsNumber()) throw Napi::TypeError::New(env, "setMark(fd, mark: number)");
  uint32_t mark = info[1].As<Napi::Number>().Uint32Value();
  if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) != 0) throw ErrnoError(env, errno, "setsockopt", "SO_MARK");
  return env.Undefined();
}

Napi::Value SetTransparent(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  int one = 1;
  int family = SocketFamily(env, fd);
  int rc = family == AF_INET6 ? setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof one)
                              : setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof one);
  if (rc != 0) throw ErrnoError(env, errno, "setsockopt", family == AF_INET6 ? "IPV6_TRANSPARENT" : "IP_TRANSPARENT");
  return env.Undefined();
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  // For an fd that never reached a net.Socket (an error between socket() and wrapping).
  int fd = FdArg(info, 0);
  close(fd);
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("socketInNetns", Napi::Function::New(env, SocketInNetns));
  exports.Set("closeNetns", Napi::Function::New(env, CloseNetns));
  exports.Set("setNetnsSysctl", Napi::Function::New(env, SetNetnsSysctl));
  exports.Set("cachedNetnsCount", Napi::Function::New(env, CachedNetnsCount));
  exports.Set("bindTo", Napi::Function::New(env, BindTo));
  exports.Set("getOriginalDst", Napi::Function::New(env, GetOriginalDst));
  exports.Set("setMark", Napi::Function::New(env, SetMark));
  exports.Set("setTransparent", Napi::Function::New(env, SetTransparent));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd));
  return exports;
}

}  // namespace

NODE_API_MODULE(ambit_netns, Init)
