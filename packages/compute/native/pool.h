// A tiny fork-join pool: the caller is thread 0, workers spin briefly then sleep, so no core is
// left busy-waiting while the wasm backend's own threads run between our kernels.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mococxr {

class Pool {
 public:
  // Runs f(tid, nthreads) on the caller (tid 0) and up to nthreads - 1 workers; returns when every
  // call that started has finished. A worker that has not started by the time the caller is done
  // never starts (on a busy machine it may not be scheduled for milliseconds), so f must take its
  // work from a shared counter rather than assume that every tid runs. An exception thrown by f on
  // any thread is rethrown here (the caller's first, else a worker's), after every started call
  // has finished: nothing still runs on f, or on what it refers to, once run returns or throws.
  void run(int nthreads, const std::function<void(int, int)>& f);

  // Test hook: the next region throws std::runtime_error("injected fault") on its caller before
  // running f, so tests reach the error paths of the N-API entry points.
  void inject_fault() { fault_.store(true, std::memory_order_release); }

 private:
  void ensure(int workers);
  void loop(int id, unsigned seen);
  bool claim(unsigned gen);
  std::mutex call_mu_;  // one parallel region at a time (several Node workers may share the addon)
  std::mutex mu_;
  std::condition_variable wake_;
  std::atomic<unsigned> generation_{0};
  // (region generation << 32) | participations still open: a worker claims only for its own region.
  std::atomic<unsigned long long> claim_{0};
  std::atomic<int> finished_{0};  // workers done in this region
  std::mutex error_mu_;
  std::exception_ptr error_;  // the first exception a worker threw in this region
  std::atomic<bool> fault_{false};
  const std::function<void(int, int)>* job_ = nullptr;
  int job_threads_ = 0;
  int started_ = 0;
};

Pool& pool();

}  // namespace mococxr
