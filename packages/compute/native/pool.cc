#include "pool.h"

#include <algorithm>
#include <stdexcept>

namespace mococxr {

Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: detached workers may outlive static destructors
  return *p;
}

void Pool::ensure(int workers) {
  while (started_ < workers) {
    int id = ++started_;
    // The generation before this region's: a worker that starts late still sees the region.
    unsigned seen = generation_.load(std::memory_order_acquire);
    std::thread([this, id, seen] { loop(id, seen); }).detach();
  }
}

void Pool::loop(int id, unsigned seen) {
  for (;;) {
    // Spin a little: kernels come in bursts during a step, and a futex wake costs tens of microseconds.
    for (int i = 0; i < 20000 && generation_.load(std::memory_order_acquire) == seen; i++) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
    const std::function<void(int, int)>* job;
    int n;
    {
      // Generation, job and width are read together, so a lagging worker never mixes two regions.
      std::unique_lock<std::mutex> lk(mu_);
      wake_.wait(lk, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      seen = generation_.load(std::memory_order_acquire);
      job = job_;
      n = job_threads_;
    }
    if (id < n && claim(seen)) {
      // An exception must not leave the thread (std::terminate would end Node): the caller rethrows it.
      try {
        (*job)(id, n);
      } catch (...) {
        std::lock_guard<std::mutex> lk(error_mu_);
        if (!error_) error_ = std::current_exception();
      }
      finished_.fetch_add(1, std::memory_order_acq_rel);
    }
  }
}

bool Pool::claim(unsigned gen) {
  unsigned long long s = claim_.load(std::memory_order_acquire);
  for (;;) {
    if ((s >> 32) != gen || (s & 0xffffffffULL) == 0) return false;
    if (claim_.compare_exchange_weak(s, s - 1, std::memory_order_acq_rel)) return true;
  }
}

void Pool::run(int nthreads, const std::function<void(int, int)>& f) {
  if (fault_.exchange(false, std::memory_order_acq_rel)) throw std::runtime_error("injected fault");
  if (nthreads <= 1) {
    f(0, 1);
    return;
  }
  std::lock_guard<std::mutex> call(call_mu_);
  {
    std::lock_guard<std::mutex> e(error_mu_);
    error_ = nullptr;
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    ensure(nthreads - 1);
    job_ = &f;
    job_threads_ = nthreads;
    finished_.store(0, std::memory_order_release);
    const unsigned gen = generation_.load(std::memory_order_acquire) + 1;
    claim_.store((static_cast<unsigned long long>(gen) << 32) | static_cast<unsigned>(nthreads - 1), std::memory_order_release);
    generation_.store(gen, std::memory_order_release);
  }
  wake_.notify_all();
  // The caller's exception waits for the join below: workers still run f, which refers to its frame.
  std::exception_ptr caller_error;
  try {
    f(0, nthreads);
  } catch (...) {
    caller_error = std::current_exception();
  }
  // Close the region: workers that have not claimed a slot yet will not run it.
  const unsigned long long closed = claim_.exchange(claim_.load() & ~0xffffffffULL, std::memory_order_acq_rel);
  const int unclaimed = static_cast<int>(closed & 0xffffffffULL);
  const int started = nthreads - 1 - unclaimed;
  while (finished_.load(std::memory_order_acquire) < started) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    std::this_thread::yield();
#endif
  }
  if (caller_error) std::rethrow_exception(caller_error);
  std::exception_ptr worker_error;
  {
    std::lock_guard<std::mutex> e(error_mu_);
    worker_error = error_;
    error_ = nullptr;
  }
  if (worker_error) std::rethrow_exception(worker_error);
}

}  // namespace mococxr
