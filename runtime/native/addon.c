/*
 * oci-slaac-hook native addon: the few system calls Node cannot make.
 *
 * Mechanism only, no policy: open a socket or a file inside another network namespace, socket
 * options, bind/listen/accept/connect, sendmsg/recvmsg with ancillary data (SCM_RIGHTS included),
 * namespace ioctls (type, owning user namespace, parent, owner uid), a uv_poll readiness watcher, close.
 * Every failure throws an Error whose `code` is the errno name and `errno` its number.
 *
 * setns() is only ever done for the duration of one system call on the calling (main) thread
 * and undone before returning to JavaScript: libuv threads must never be created while the
 * main thread sits in a foreign namespace. If the namespace cannot be restored the process
 * aborts rather than run on in the wrong namespace.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define CHECK(call)                                                                            \
  do {                                                                                         \
    if ((call) != napi_ok) {                                                                   \
      napi_throw_error(env, NULL, "oci-slaac-hook addon: N-API call failed: " #call);          \
      return NULL;                                                                             \
    }                                                                                          \
  } while (0)

#define MAX_ARGS 6
#define MAX_CMSG_SPACE 4096

static napi_value throw_errno(napi_env env, const char *syscall, int err) {
  const char *name = strerrorname_np(err);
  char message[256];
  snprintf(message, sizeof message, "%s: %s (%s)", syscall, name ? name : "E?", strerror(err));
  napi_value msg, code, error, num, sys;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  napi_create_string_utf8(env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, msg, &error);
  napi_create_int32(env, err, &num);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sys);
  napi_set_named_property(env, error, "errno", num);
  napi_set_named_property(env, error, "syscall", sys);
  napi_throw(env, error);
  return NULL;
}

static napi_value throw_type(napi_env env, const char *what) {
  napi_throw_type_error(env, NULL, what);
  return NULL;
}

static int get_i32(napi_env env, napi_value v, int32_t *out) {
  return napi_get_value_int32(env, v, out) == napi_ok;
}

/* Buffer or Uint8Array argument; NULL/undefined gives len 0 and data NULL. */
static int get_bytes(napi_env env, napi_value v, void **data, size_t *len) {
  napi_valuetype t;
  *data = NULL;
  *len = 0;
  if (napi_typeof(env, v, &t) != napi_ok) return 0;
  if (t == napi_null || t == napi_undefined) return 1;
  bool is_buf = false, is_ta = false;
  napi_is_buffer(env, v, &is_buf);
  if (is_buf) return napi_get_buffer_info(env, v, data, len) == napi_ok;
  napi_is_typedarray(env, v, &is_ta);
  if (is_ta) {
    napi_typedarray_type tt;
    size_t n, off;
    napi_value ab;
    if (napi_get_typedarray_info(env, v, &tt, &n, data, &ab, &off) != napi_ok) return 0;
    if (tt != napi_uint8_array) return 0;
    *len = n;
    return 1;
  }
  return 0;
}

static napi_value make_buffer(napi_env env, const void *src, size_t len) {
  napi_value out;
  void *dst;
  if (napi_create_buffer_copy(env, len, src, &dst, &out) != napi_ok) return NULL;
  return out;
}

/* Run fn inside the namespace nsfd (or here when nsfd < 0). Returns fn's result; errno kept. */
typedef int (*ns_fn)(void *arg);
static int in_netns(int nsfd, ns_fn fn, void *arg) {
  if (nsfd < 0) return fn(arg);
  int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) return -1;
  if (setns(nsfd, CLONE_NEWNET) < 0) {
    int e = errno;
    close(home);
    errno = e;
    return -1;
  }
  int r = fn(arg);
  int e = errno;
  if (setns(home, CLONE_NEWNET) < 0) {
    fprintf(stderr, "oci-slaac-hook: cannot return to the original network namespace: %s\n", strerror(errno));
    abort();
  }
  close(home);
  errno = e;
  return r;
}

struct socket_args { int domain, type, protocol; };
static int do_socket(void *p) {
  struct socket_args *a = p;
  return socket(a->domain, a->type, a->protocol);
}

/* socketat(nsfd, domain, type, protocol) -> fd. nsfd -1 = the current namespace. */
static napi_value js_socketat(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t nsfd, domain, type, protocol;
  if (argc < 4 || !get_i32(env, argv[0], &nsfd) || !get_i32(env, argv[1], &domain) ||
      !get_i32(env, argv[2], &type) || !get_i32(env, argv[3], &protocol))
    return throw_type(env, "socketat(nsfd, domain, type, protocol): four integers expected");
  struct socket_args a = { domain, type | SOCK_CLOEXEC, protocol };
  int fd = in_netns(nsfd, do_socket, &a);
  if (fd < 0) return throw_errno(env, nsfd < 0 ? "socket" : "setns+socket", errno);
  napi_value out;
  CHECK(napi_create_int32(env, fd, &out));
  return out;
}

struct open_args { const char *path; int flags; int mode; };
static int do_open(void *p) {
  struct open_args *a = p;
  return open(a->path, a->flags | O_CLOEXEC, a->mode);
}

/* openat(nsfd, path, flags, mode) -> fd: open a file (e.g. /proc/sys/net/...) as seen from a netns. */
static napi_value js_openat(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t nsfd, flags, mode;
  char path[4096];
  size_t plen;
  if (argc < 4 || !get_i32(env, argv[0], &nsfd) ||
      napi_get_value_string_utf8(env, argv[1], path, sizeof path, &plen) != napi_ok ||
      !get_i32(env, argv[2], &flags) || !get_i32(env, argv[3], &mode))
    return throw_type(env, "openat(nsfd, path, flags, mode): expected (int, string, int, int)");
  struct open_args a = { path, flags, mode };
  int fd = in_netns(nsfd, do_open, &a);
  if (fd < 0) return throw_errno(env, nsfd < 0 ? "open" : "setns+open", errno);
  napi_value out;
  CHECK(napi_create_int32(env, fd, &out));
  return out;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !get_i32(env, argv[0], &fd)) return throw_type(env, "close(fd)");
  if (close(fd) < 0 && errno != EINTR) return throw_errno(env, "close", errno);
  return NULL;
}

/*
 * flock(fd, exclusive: boolean, wait: boolean) -> true when taken, false when busy and !wait.
 * The kernel drops the lock when the holder dies, so a killed hook never leaves one behind.
 * Blocking waits are meant for locks held for a few netlink calls only.
 */
static napi_value js_flock(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t fd;
  bool exclusive = true, wait = true;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !get_i32(env, argv[0], &fd)) return throw_type(env, "flock(fd, exclusive, wait)");
  if (argc > 1) CHECK(napi_get_value_bool(env, argv[1], &exclusive));
  if (argc > 2) CHECK(napi_get_value_bool(env, argv[2], &wait));
  int op = (exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB);
  int rc;
  do rc = flock(fd, op); while (rc < 0 && errno == EINTR);
  napi_value out;
  if (rc < 0 && errno == EWOULDBLOCK && !wait) {
    CHECK(napi_get_boolean(env, false, &out));
    return out;
  }
  if (rc < 0) return throw_errno(env, "flock", errno);
  CHECK(napi_get_boolean(env, true, &out));
  return out;
}

/* setsockopt(fd, level, name, value: integer | Buffer) */
static napi_value js_setsockopt(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, level, name, ival;
  if (argc < 4 || !get_i32(env, argv[0], &fd) || !get_i32(env, argv[1], &level) || !get_i32(env, argv[2], &name))
    return throw_type(env, "setsockopt(fd, level, name, value)");
  napi_valuetype t;
  CHECK(napi_typeof(env, argv[3], &t));
  int r;
  if (t == napi_number) {
    get_i32(env, argv[3], &ival);
    int v = ival;
    r = setsockopt(fd, level, name, &v, sizeof v);
  } else {
    void *data;
    size_t len;
    if (!get_bytes(env, argv[3], &data, &len)) return throw_type(env, "setsockopt: value must be an integer or a Buffer");
    r = setsockopt(fd, level, name, data, (socklen_t)len);
  }
  if (r < 0) return throw_errno(env, "setsockopt", errno);
  return NULL;
}

/* getsockopt(fd, level, name, maxlen) -> Buffer */
static napi_value js_getsockopt(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, level, name, maxlen;
  if (argc < 4 || !get_i32(env, argv[0], &fd) || !get_i32(env, argv[1], &level) || !get_i32(env, argv[2], &name) ||
      !get_i32(env, argv[3], &maxlen) || maxlen < 0 || maxlen > 65536)
    return throw_type(env, "getsockopt(fd, level, name, maxlen)");
  unsigned char buf[65536];
  socklen_t len = (socklen_t)maxlen;
  if (getsockopt(fd, level, name, buf, &len) < 0) return throw_errno(env, "getsockopt", errno);
  return make_buffer(env, buf, len);
}

/*
 * bind(fd, sockaddr) and connect(fd, sockaddr): the sockaddr bytes are built by the caller. A
 * connect's EINPROGRESS/EAGAIN is thrown like any error (Unix sockets connect at once or fail).
 */
static napi_value sockaddr_call(napi_env env, napi_callback_info info, const char *usage, const char *name,
                                int (*fn)(int, const struct sockaddr *, socklen_t)) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  void *addr;
  size_t len;
  if (argc < 2 || !get_i32(env, argv[0], &fd) || !get_bytes(env, argv[1], &addr, &len) || addr == NULL) return throw_type(env, usage);
  int r;
  do r = fn(fd, (const struct sockaddr *)addr, (socklen_t)len); while (r < 0 && errno == EINTR);
  if (r < 0) return throw_errno(env, name, errno);
  return NULL;
}

static napi_value js_bind(napi_env env, napi_callback_info info) {
  return sockaddr_call(env, info, "bind(fd, sockaddr: Buffer)", "bind", bind);
}

static napi_value js_connect(napi_env env, napi_callback_info info) {
  return sockaddr_call(env, info, "connect(fd, sockaddr: Buffer)", "connect", connect);
}

/* A byte count, or the errno as an exception. */
static napi_value count_or_throw(napi_env env, const char *syscall, ssize_t n) {
  if (n < 0) return throw_errno(env, syscall, errno);
  napi_value out;
  CHECK(napi_create_int64(env, n, &out));
  return out;
}

/* For a failed read: null when there was nothing to read (EAGAIN), else the errno as an exception. */
static napi_value null_or_throw(napi_env env, const char *syscall, int err) {
  if (err != EAGAIN) return throw_errno(env, syscall, err);
  napi_value nul;
  napi_get_null(env, &nul);
  return nul;
}

/* read(fd, maxlen) -> Buffer, or null on EAGAIN. */
static napi_value js_read(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, maxlen;
  if (argc < 2 || !get_i32(env, argv[0], &fd) || !get_i32(env, argv[1], &maxlen) || maxlen < 0 || maxlen > (1 << 20))
    return throw_type(env, "read(fd, maxlen)");
  char *buf = malloc(maxlen ? maxlen : 1);
  if (!buf) return throw_errno(env, "malloc", ENOMEM);
  ssize_t n;
  do n = read(fd, buf, maxlen); while (n < 0 && errno == EINTR);
  if (n < 0) {
    int e = errno;
    free(buf);
    return null_or_throw(env, "read", e);
  }
  napi_value out = make_buffer(env, buf, (size_t)n);
  free(buf);
  return out;
}

/* write(fd, data) -> bytes written */
static napi_value js_write(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  void *data;
  size_t len;
  if (argc < 2 || !get_i32(env, argv[0], &fd) || !get_bytes(env, argv[1], &data, &len))
    return throw_type(env, "write(fd, data: Buffer)");
  ssize_t n;
  do n = write(fd, data, len); while (n < 0 && errno == EINTR);
  return count_or_throw(env, "write", n);
}

/*
 * sendmsg(fd, data, name: Buffer|null, control: [{level, type, data}]|null, flags) -> bytes sent.
 * Ancillary data is laid out here with the CMSG_* macros; what goes in it is the caller's choice.
 */
static napi_value js_sendmsg(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, flags = 0;
  void *data, *name;
  size_t len, namelen;
  if (argc < 4 || !get_i32(env, argv[0], &fd) || !get_bytes(env, argv[1], &data, &len) ||
      !get_bytes(env, argv[2], &name, &namelen) || (argc > 4 && !get_i32(env, argv[4], &flags)))
    return throw_type(env, "sendmsg(fd, data, name, control, flags)");

  union { struct cmsghdr align; unsigned char buf[MAX_CMSG_SPACE]; } control;
  size_t control_len = 0;
  bool is_array = false;
  napi_is_array(env, argv[3], &is_array);
  if (is_array) {
    uint32_t count;
    CHECK(napi_get_array_length(env, argv[3], &count));
    memset(control.buf, 0, sizeof control.buf);
    for (uint32_t i = 0; i < count; i++) {
      napi_value item, lv, tv, dv;
      int32_t level, type;
      void *cdata;
      size_t clen;
      CHECK(napi_get_element(env, argv[3], i, &item));
      if (napi_get_named_property(env, item, "level", &lv) != napi_ok || !get_i32(env, lv, &level) ||
          napi_get_named_property(env, item, "type", &tv) != napi_ok || !get_i32(env, tv, &type) ||
          napi_get_named_property(env, item, "data", &dv) != napi_ok || !get_bytes(env, dv, &cdata, &clen))
        return throw_type(env, "sendmsg: control items are {level, type, data: Buffer}");
      if (control_len + CMSG_SPACE(clen) > sizeof control.buf) return throw_errno(env, "sendmsg", ENOBUFS);
      struct cmsghdr *c = (struct cmsghdr *)(control.buf + control_len);
      c->cmsg_level = level;
      c->cmsg_type = type;
      c->cmsg_len = CMSG_LEN(clen);
      if (clen) memcpy(CMSG_DATA(c), cdata, clen);
      control_len += CMSG_SPACE(clen);
    }
  }
  struct iovec iov = { data, len };
  struct msghdr msg = { 0 };
  msg.msg_name = name;
  msg.msg_namelen = (socklen_t)namelen;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control_len ? control.buf : NULL;
  msg.msg_controllen = control_len;
  ssize_t n;
  do n = sendmsg(fd, &msg, flags); while (n < 0 && errno == EINTR);
  return count_or_throw(env, "sendmsg", n);
}

/*
 * recvmsg(fd, maxlen, flags) -> { data, name, control: [{level, type, data}], flags }, or null
 * on EAGAIN. `data` is truncated to maxlen (MSG_TRUNC in flags says so).
 */
static napi_value js_recvmsg(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, maxlen, flags = 0;
  if (argc < 2 || !get_i32(env, argv[0], &fd) || !get_i32(env, argv[1], &maxlen) || maxlen < 0 || maxlen > (1 << 20) ||
      (argc > 2 && !get_i32(env, argv[2], &flags)))
    return throw_type(env, "recvmsg(fd, maxlen, flags)");
  unsigned char *buf = malloc(maxlen ? maxlen : 1);
  if (!buf) return throw_errno(env, "malloc", ENOMEM);
  struct sockaddr_storage from;
  union { struct cmsghdr align; unsigned char buf[MAX_CMSG_SPACE]; } control;
  struct iovec iov = { buf, (size_t)maxlen };
  struct msghdr msg = { 0 };
  msg.msg_name = &from;
  msg.msg_namelen = sizeof from;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  ssize_t n;
  do n = recvmsg(fd, &msg, flags); while (n < 0 && errno == EINTR);
  if (n < 0) {
    int e = errno;
    free(buf);
    return null_or_throw(env, "recvmsg", e);
  }
  size_t got = (size_t)n < (size_t)maxlen ? (size_t)n : (size_t)maxlen;
  napi_value out, items, v;
  CHECK(napi_create_object(env, &out));
  napi_value data = make_buffer(env, buf, got);
  free(buf);
  if (!data) return throw_errno(env, "recvmsg", ENOMEM);
  CHECK(napi_set_named_property(env, out, "data", data));
  CHECK(napi_set_named_property(env, out, "name", make_buffer(env, &from, msg.msg_namelen)));
  CHECK(napi_create_int32(env, msg.msg_flags, &v));
  CHECK(napi_set_named_property(env, out, "flags", v));
  CHECK(napi_create_int64(env, n, &v));
  CHECK(napi_set_named_property(env, out, "length", v));
  CHECK(napi_create_array(env, &items));
  uint32_t i = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    napi_value item;
    CHECK(napi_create_object(env, &item));
    CHECK(napi_create_int32(env, c->cmsg_level, &v));
    CHECK(napi_set_named_property(env, item, "level", v));
    CHECK(napi_create_int32(env, c->cmsg_type, &v));
    CHECK(napi_set_named_property(env, item, "type", v));
    CHECK(napi_set_named_property(env, item, "data", make_buffer(env, CMSG_DATA(c), c->cmsg_len - CMSG_LEN(0))));
    CHECK(napi_set_element(env, items, i++, item));
  }
  CHECK(napi_set_named_property(env, out, "control", items));
  return out;
}

/* ---- what an fd is: file system type, namespace type, socket name ---- */

/* fstatfs(fd) -> f_type (NSFS_MAGIC 0x6e736673 for a namespace file). */
static napi_value js_fstatfs(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !get_i32(env, argv[0], &fd)) return throw_type(env, "fstatfs(fd)");
  struct statfs st;
  if (fstatfs(fd, &st) < 0) return throw_errno(env, "fstatfs", errno);
  napi_value out;
  CHECK(napi_create_int64(env, (int64_t)(unsigned long)st.f_type, &out));
  return out;
}

/* One namespace file in, an ioctl on it, its int result out (or the errno as an exception). */
static napi_value ns_ioctl(napi_env env, napi_callback_info info, unsigned long request, const char *usage, const char *name) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !get_i32(env, argv[0], &fd)) return throw_type(env, usage);
  int r = ioctl(fd, request);
  if (r < 0) return throw_errno(env, name, errno);
  napi_value out;
  CHECK(napi_create_int32(env, r, &out));
  return out;
}

/* nsType(fd) -> the CLONE_NEW* type of a namespace file (ioctl NS_GET_NSTYPE; ENOTTY if not one). */
static napi_value js_ns_type(napi_env env, napi_callback_info info) {
  return ns_ioctl(env, info, NS_GET_NSTYPE, "nsType(fd)", "ioctl(NS_GET_NSTYPE)");
}

/* nsUserns(fd) -> a new fd (close-on-exec, as the kernel opens it) for the user namespace owning namespace `fd`. */
static napi_value js_ns_userns(napi_env env, napi_callback_info info) {
  return ns_ioctl(env, info, NS_GET_USERNS, "nsUserns(fd)", "ioctl(NS_GET_USERNS)");
}

/* nsParent(fd) -> a new fd for the parent of user (or pid) namespace `fd`; EPERM past the caller's own user namespace. */
static napi_value js_ns_parent(napi_env env, napi_callback_info info) {
  return ns_ioctl(env, info, NS_GET_PARENT, "nsParent(fd)", "ioctl(NS_GET_PARENT)");
}

/* getsockname(fd) -> the socket's own sockaddr bytes (for netlink: the port id at offset 4). */
static napi_value js_getsockname(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !get_i32(env, argv[0], &fd)) return throw_type(env, "getsockname(fd)");
  struct sockaddr_storage sa;
  socklen_t len = sizeof sa;
  if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0) return throw_errno(env, "getsockname", errno);
  return make_buffer(env, &sa, len < sizeof sa ? len : sizeof sa);
}

/* ---- readiness watcher: uv_poll on the Node event loop ---- */

typedef struct {
  uv_poll_t handle;
  napi_env env;
  napi_ref callback;
  napi_async_context async;
  int stopped;
} watcher_t;

static void watcher_closed(uv_handle_t *h) { free(h->data); }

static void watcher_event(uv_poll_t *h, int status, int events) {
  watcher_t *w = h->data;
  if (w->stopped) return;
  napi_env env = w->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, args[2], result;
  napi_get_reference_value(env, w->callback, &cb);
  napi_get_global(env, &recv);
  napi_create_int32(env, status, &args[0]);
  napi_create_int32(env, events, &args[1]);
  if (napi_make_callback(env, w->async, recv, cb, 2, args, &result) == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
  napi_close_handle_scope(env, scope);
}

static void watcher_release(napi_env env, watcher_t *w) {
  if (w->stopped) return;
  w->stopped = 1;
  uv_poll_stop(&w->handle);
  napi_delete_reference(env, w->callback);
  napi_async_destroy(env, w->async);
  uv_close((uv_handle_t *)&w->handle, watcher_closed);
}

/* watch(fd, events, callback(status, events)) -> handle; events: 1 readable, 2 writable. */
static napi_value js_watch(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, events;
  napi_valuetype t;
  if (argc < 3 || !get_i32(env, argv[0], &fd) || !get_i32(env, argv[1], &events) ||
      napi_typeof(env, argv[2], &t) != napi_ok || t != napi_function)
    return throw_type(env, "watch(fd, events, callback)");
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  watcher_t *w = calloc(1, sizeof *w);
  if (!w) return throw_errno(env, "calloc", ENOMEM);
  w->env = env;
  w->handle.data = w;
  int r = uv_poll_init(loop, &w->handle, fd);
  if (r < 0) { free(w); return throw_errno(env, "uv_poll_init", -r); }
  napi_value name;
  CHECK(napi_create_string_utf8(env, "oci-slaac-hook:watch", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, NULL, name, &w->async));
  CHECK(napi_create_reference(env, argv[2], 1, &w->callback));
  r = uv_poll_start(&w->handle, events, watcher_event);
  if (r < 0) { watcher_release(env, w); return throw_errno(env, "uv_poll_start", -r); }
  napi_value handle;
  CHECK(napi_create_external(env, w, NULL, NULL, &handle));
  return handle;
}

/* unwatch(handle): stop and free; safe to call twice. */
static napi_value js_unwatch(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  watcher_t *w;
  if (argc < 1 || napi_get_value_external(env, argv[0], (void **)&w) != napi_ok) return throw_type(env, "unwatch(handle)");
  watcher_release(env, w);
  return NULL;
}

/*
 * clockBoottime() -> ms (a double, sub-ms precision) on CLOCK_BOOTTIME: monotonic, and counting
 * the time the machine was suspended, as the kernel's own address and route lifetimes do.
 */
static napi_value js_clock_boottime(napi_env env, napi_callback_info info) {
  (void)info;
  struct timespec ts;
  if (clock_gettime(CLOCK_BOOTTIME, &ts) < 0) return throw_errno(env, "clock_gettime", errno);
  napi_value out;
  CHECK(napi_create_double(env, (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6, &out));
  return out;
}

/* ---- stream/seqpacket sockets: listen, accept, connect ---- */

/* listen(fd, backlog). */
static napi_value js_listen(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, backlog;
  if (argc < 2 || !get_i32(env, argv[0], &fd) || !get_i32(env, argv[1], &backlog)) return throw_type(env, "listen(fd, backlog)");
  if (listen(fd, backlog) < 0) return throw_errno(env, "listen", errno);
  return NULL;
}

/* accept(fd) -> a new fd (non-blocking, close-on-exec), or null when none is waiting (EAGAIN). */
static napi_value js_accept(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  if (argc < 1 || !get_i32(env, argv[0], &fd)) return throw_type(env, "accept(fd)");
  int c;
  do c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC); while (c < 0 && errno == EINTR);
  if (c < 0) return null_or_throw(env, "accept4", errno);
  napi_value out;
  CHECK(napi_create_int32(env, c, &out));
  return out;
}

/* nsOwnerUid(fd) -> the uid (in the caller's user namespace) that owns user namespace `fd` (NS_GET_OWNER_UID). */
static napi_value js_ns_owner_uid(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  if (argc < 1 || !get_i32(env, argv[0], &fd)) return throw_type(env, "nsOwnerUid(fd)");
  uid_t uid;
  if (ioctl(fd, NS_GET_OWNER_UID, &uid) < 0) return throw_errno(env, "ioctl(NS_GET_OWNER_UID)", errno);
  napi_value out;
  CHECK(napi_create_uint32(env, uid, &out));
  return out;
}

/*
 * execve(path, argv: string[], envp: string[], inherit: number[]): replace this process (an OCI
 * runtime wrapper hands over to the real runtime, as nvidia-container-runtime does with
 * syscall.Exec). The fds in `inherit` lose FD_CLOEXEC (Node sets it on 0, 1 and 2 at start: the
 * runtime would find its stdio closed); signals Node set to be ignored (SIGPIPE) go back to their
 * defaults and the signal mask is emptied: execve keeps both, and a runtime must start as from a
 * shell. Returns only by throwing.
 */
static char **string_array(napi_env env, napi_value arr, uint32_t max) {
  uint32_t n;
  if (napi_get_array_length(env, arr, &n) != napi_ok || n > max) return NULL;
  char **out = calloc(n + 1, sizeof *out);
  if (!out) return NULL;
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    size_t len;
    if (napi_get_element(env, arr, i, &v) != napi_ok || napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) goto fail;
    out[i] = malloc(len + 1);
    if (!out[i] || napi_get_value_string_utf8(env, v, out[i], len + 1, &len) != napi_ok) goto fail;
  }
  return out;
fail:
  for (uint32_t i = 0; i < n; i++) free(out[i]);
  free(out);
  return NULL;
}

static void free_array(char **a) {
  if (!a) return;
  for (char **p = a; *p; p++) free(*p);
  free(a);
}

/* A command's argv and envp (arrays of strings) as C arrays; false, with nothing left allocated, when either is not one. */
static bool command_arrays(napi_env env, napi_value jargv, napi_value jenvp, char ***args, char ***envs) {
  *args = string_array(env, jargv, 65536);
  *envs = string_array(env, jenvp, 65536);
  if (*args && *envs) return true;
  free_array(*args);
  free_array(*envs);
  return false;
}

static napi_value js_execve(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char path[4096];
  size_t plen;
  uint32_t ninherit = 0;
  if (argc < 4 || napi_get_value_string_utf8(env, argv[0], path, sizeof path, &plen) != napi_ok ||
      napi_get_array_length(env, argv[3], &ninherit) != napi_ok)
    return throw_type(env, "execve(path, argv, envp, inherit): a path, two arrays of strings and an array of fds expected");
  for (uint32_t i = 0; i < ninherit; i++) {
    napi_value v;
    int32_t fd;
    if (napi_get_element(env, argv[3], i, &v) != napi_ok || !get_i32(env, v, &fd)) return throw_type(env, "execve: inherit must be fds");
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0 && (flags & FD_CLOEXEC)) fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
  }
  char **args, **envs;
  if (!command_arrays(env, argv[1], argv[2], &args, &envs)) return throw_type(env, "execve(path, argv, envp): argv and envp must be arrays of strings");
  struct sigaction dfl = { 0 };
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; s++) {
    struct sigaction old;
    if (s != SIGKILL && s != SIGSTOP && sigaction(s, NULL, &old) == 0 && old.sa_handler == SIG_IGN) sigaction(s, &dfl, NULL);
  }
  sigset_t none, before;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, &before);
  execve(path, args, envs);
  int e = errno;
  sigprocmask(SIG_SETMASK, &before, NULL);
  free_array(args);
  free_array(envs);
  return throw_errno(env, "execve", e);
}

/*
 * spawn_detached(path, argv, envp) -> pid: posix_spawn(3) of a process in a session of its own
 * (POSIX_SPAWN_SETSID), stdin/stdout/stderr on /dev/null, every signal at its default and none
 * blocked. glibc spawns with clone(CLONE_VM|CLONE_VFORK): no copy of this process's address space,
 * a fraction of Node's child_process (which loads its module and forks). The child is not waited
 * for: the caller is a short-lived hook, and init reaps it. Mechanism only: what runs is the caller's.
 */
static napi_value js_spawn_detached(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char path[4096];
  size_t plen;
  if (argc < 3 || napi_get_value_string_utf8(env, argv[0], path, sizeof path, &plen) != napi_ok)
    return throw_type(env, "spawn_detached(path, argv, envp): a path and two arrays of strings expected");
  char **args, **envs;
  if (!command_arrays(env, argv[1], argv[2], &args, &envs)) return throw_type(env, "spawn_detached(path, argv, envp): argv and envp must be arrays of strings");
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t actions;
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawn_file_actions_init(&actions);
  for (int fd = 0; fd <= 2; fd++) posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0);
  pid_t pid;
  int e = posix_spawn(&pid, path, &actions, &attr, args, envs);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  free_array(args);
  free_array(envs);
  if (e != 0) return throw_errno(env, "posix_spawn", e);
  napi_value out;
  CHECK(napi_create_int32(env, pid, &out));
  return out;
}

/* socketpair(domain, type) -> [fd, fd] (close-on-exec); for tests that stand in for a link. */
static napi_value js_socketpair(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t domain, type;
  if (argc < 2 || !get_i32(env, argv[0], &domain) || !get_i32(env, argv[1], &type))
    return throw_type(env, "socketpair(domain, type): two integers expected");
  int fds[2];
  if (socketpair(domain, type | SOCK_CLOEXEC, 0, fds) < 0) return throw_errno(env, "socketpair", errno);
  napi_value out, v;
  CHECK(napi_create_array_with_length(env, 2, &out));
  for (uint32_t i = 0; i < 2; i++) {
    CHECK(napi_create_int32(env, fds[i], &v));
    CHECK(napi_set_element(env, out, i, v));
  }
  return out;
}

static void export_fn(napi_env env, napi_value exports, const char *name, napi_callback fn) {
  napi_value f;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &f);
  napi_set_named_property(env, exports, name, f);
}

static void export_int(napi_env env, napi_value obj, const char *name, int value) {
  napi_value v;
  napi_create_int32(env, value, &v);
  napi_set_named_property(env, obj, name, v);
}

static napi_value init(napi_env env, napi_value exports) {
  export_fn(env, exports, "socketat", js_socketat);
  export_fn(env, exports, "openat", js_openat);
  export_fn(env, exports, "close", js_close);
  export_fn(env, exports, "spawn_detached", js_spawn_detached);
  export_fn(env, exports, "flock", js_flock);
  export_fn(env, exports, "setsockopt", js_setsockopt);
  export_fn(env, exports, "getsockopt", js_getsockopt);
  export_fn(env, exports, "bind", js_bind);
  export_fn(env, exports, "read", js_read);
  export_fn(env, exports, "write", js_write);
  export_fn(env, exports, "sendmsg", js_sendmsg);
  export_fn(env, exports, "recvmsg", js_recvmsg);
  export_fn(env, exports, "watch", js_watch);
  export_fn(env, exports, "unwatch", js_unwatch);
  export_fn(env, exports, "fstatfs", js_fstatfs);
  export_fn(env, exports, "nsType", js_ns_type);
  export_fn(env, exports, "getsockname", js_getsockname);
  export_fn(env, exports, "clockBoottime", js_clock_boottime);
  export_fn(env, exports, "socketpair", js_socketpair);
  export_fn(env, exports, "listen", js_listen);
  export_fn(env, exports, "execve", js_execve);
  export_fn(env, exports, "accept", js_accept);
  export_fn(env, exports, "connect", js_connect);
  export_fn(env, exports, "nsUserns", js_ns_userns);
  export_fn(env, exports, "nsParent", js_ns_parent);
  export_fn(env, exports, "nsOwnerUid", js_ns_owner_uid);
  napi_value c;
  napi_create_object(env, &c);
  export_int(env, c, "SOCK_NONBLOCK", SOCK_NONBLOCK);
  export_int(env, c, "O_NONBLOCK", O_NONBLOCK);
  export_int(env, c, "MSG_TRUNC", MSG_TRUNC);
  export_int(env, c, "MSG_DONTWAIT", MSG_DONTWAIT);
  export_int(env, c, "MSG_CTRUNC", MSG_CTRUNC);
  export_int(env, c, "MSG_CMSG_CLOEXEC", MSG_CMSG_CLOEXEC);
  export_int(env, c, "UV_READABLE", UV_READABLE);
  export_int(env, c, "UV_WRITABLE", UV_WRITABLE);
  napi_set_named_property(env, exports, "constants", c);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
