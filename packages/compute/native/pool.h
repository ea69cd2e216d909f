// A tiny fork-join pool: the caller is thread 0, workers spin briefly then sleep, so no core is
// left busy-waiting while the wasm backend's own threads run between our kernels.
#pragma once
#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mococxr {

class Pool {
 public:
  // Runs f(tid, nthreads) for tid in [0, nthreads); returns when all have finished.
  void run(int nthreads, const std::function<void(int, int)>& f);

 private:
  void ensure(int workers);
  void loop(int id, unsigned seen);
  std::mutex call_mu_;  // one parallel region at a time (several Node workers may share the addon)
  std::mutex mu_;
  std::condition_variable wake_;
  std::atomic<unsigned> generation_{0};
  std::atomic<int> pending_{0};
  const std::function<void(int, int)>* job_ = nullptr;
  int job_threads_ = 0;
  int started_ = 0;
};

Pool& pool();

}  // namespace mococxr
