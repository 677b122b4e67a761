// See boost_ring.h.
#include "boost_ring.h"

#include <boost/lockfree/spsc_queue.hpp>
#include <cerrno>
#include <new>

struct boost_ring {
  explicit boost_ring(size_t size) : queue(size) {}
  boost::lockfree::spsc_queue<char> queue;
};

extern "C" int boost_ring_create(size_t size, boost_ring **out) {
  // spsc_queue keeps one slot empty to tell full from empty: one more, so
  // it holds as many bytes as the rings it is compared with.
  try {
    *out = new boost_ring(size + 1);
    return 0;
  } catch (const std::bad_alloc &) {
    return -ENOMEM;
  }
}

extern "C" void boost_ring_destroy(boost_ring *r) { delete r; }

extern "C" size_t boost_ring_push(boost_ring *r, const void *src, size_t n) {
  return r->queue.push(static_cast<const char *>(src), n);
}

extern "C" size_t boost_ring_pop(boost_ring *r, void *dst, size_t n) {
  return r->queue.pop(static_cast<char *>(dst), n);
}
