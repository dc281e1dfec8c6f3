// The pass executor: a rank's partitions through the trainer's accumulators, threaded, with the
// bad-partition policy, stop requests and progress; failures are agreed on at the end.
#include "pass_executor.hpp"

#include "isolated_check.hpp"
#include "partial_cache.hpp"
#include "unit_dispenser.hpp"

#include "sluice/schedule/collective.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <omp.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <exception>
#include <mutex>
#include <numeric>
#include <thread>
#include <optional>

namespace sluice::coordinator {
namespace {

using schedule::LocalFailure;

// One partition under the job's bad-partition policy: its outcome (possibly a skip), or why the
// job must fail.
struct Attempt {
  std::optional<PartitionOutcome> outcome;
  std::optional<LocalFailure> failure;
  bool is_interrupted = false; ///< abandoned part-way on a stop request: no outcome
};

bool is_finished(const Attempt& attempt) {
  return attempt.outcome && attempt.outcome->skipped_reason.empty();
}

bool stop_before_next(const RunOptions& options, std::int64_t num_started) {
  return (options.stop_requested != nullptr && options.stop_requested->load()) ||
         (options.stop_after_partitions >= 0 && num_started >= options.stop_after_partitions);
}

Attempt attempt_partition(const mpi::Communicator& comm, const PartitionTask& task,
                          const RunOptions& options, std::vector<double>& buffer) {
  const auto fail_or_skip = [&](const std::string& message, ErrorKind kind) -> Attempt {
    // Only a partition found bad when first read is skipped: one that fails in a later pass
    // (after it shaped the fit so far) fails the job.
    if (task.job->lake.on_bad_partition != job::BadPartitionPolicy::skip || !task.may_skip) {
      return {std::nullopt, LocalFailure{static_cast<std::int64_t>(task.index),
                                         fmt::format("{} [rank {}]", message, comm.rank()), kind}};
    }
    spdlog::warn("skipping partition: {}", message);
    PartitionOutcome skipped;
    skipped.index = task.index;
    skipped.rank = comm.rank();
    skipped.skipped_reason = message;
    return {std::move(skipped), std::nullopt};
  };
  // Outside the try: a checker that cannot run fails the job; it does not make the file bad.
  const IsolatedVerdict verdict = check_in_isolation(task, options);
  if (verdict.is_interrupted) return {std::nullopt, std::nullopt, true};
  if (verdict.refusal) return fail_or_skip(*verdict.refusal, ErrorKind::data);
  try {
    // The file's identity before reading it: one changed while being read is read again.
    const std::string cache_key =
        task.partial_cache != nullptr
            ? task.partial_cache->entry_key(*task.partition, task.first_row, task.end_row)
            : "";
    PartitionOutcome outcome = process_partition(task, buffer);
    outcome.rank = comm.rank();
    if (task.partial_cache != nullptr) task.partial_cache->store(cache_key, outcome);
    return {std::move(outcome), std::nullopt};
  } catch (const PartitionInterrupted&) {
    return {std::nullopt, std::nullopt, true};
  } catch (const PeerSilentError&) {
    throw; // rank 0 lost a rank while reading this partition: not this file's fault
  } catch (const Error& error) {
    return fail_or_skip(error.what(), kind_of(error));
  } catch (const std::exception& error) {
    // e.g. std::filesystem_error or bad_alloc: still one agreed message naming the partition.
    return fail_or_skip(fmt::format("{}: {}", task.partition->path.string(), error.what()),
                        kind_of(error));
  }
}

// Several threads and at least as many partitions: each thread takes whole partitions, largest
// first, like a rank of its own. Returns the attempts in the order of `mine`. Only the calling
// thread talks MPI (progress), as FUNNELED asks.
std::vector<Attempt> attempt_in_parallel(const mpi::Communicator& comm,
                                         const std::vector<PartitionTask>& tasks,
                                         const RunOptions& options,
                                         int num_threads, Progress& progress, bool& is_stopped) {
  std::vector<std::size_t> largest_first(tasks.size());
  std::iota(largest_first.begin(), largest_first.end(), std::size_t{0});
  std::stable_sort(largest_first.begin(), largest_first.end(), [&](std::size_t a, std::size_t b) {
    return tasks[a].work > tasks[b].work; // rows once known, file size in the first pass
  });
  std::vector<Attempt> attempts(tasks.size());
  std::atomic<bool> is_halted{false}, stopped{false};
  std::atomic<std::int64_t> num_started{0};
  std::mutex pending_mutex;
  std::vector<std::array<std::int64_t, 3>> pending; // rows, bytes, work of finished ones
  std::exception_ptr unexpected;
  const auto report_pending = [&] {
    std::vector<std::array<std::int64_t, 3>> done;
    {
      const std::lock_guard lock(pending_mutex);
      done.swap(pending);
    }
    for (const auto& [rows, bytes, work] : done) progress.partition_done(rows, bytes, work);
  };
  std::atomic<std::size_t> num_done{0};
  struct CountDone {
    std::atomic<std::size_t>& count;
    ~CountDone() { count.fetch_add(1); }
  };
#pragma omp parallel num_threads(num_threads)
  {
    std::vector<double> buffer;
#pragma omp for schedule(dynamic, 1) nowait
    for (std::size_t k = 0; k < largest_first.size(); ++k) {
      const CountDone counted{num_done};
      if (is_halted) continue;
      if (stop_before_next(options, num_started.fetch_add(1))) {
        stopped = true;
        is_halted = true;
        continue;
      }
      const std::size_t position = largest_first[k];
      Attempt& attempt = attempts[position];
      try {
        PartitionTask task = tasks[position];
        task.accumulator.num_threads = 1;
        attempt = attempt_partition(comm, task, options, buffer);
        if (attempt.failure) is_halted = true;
        if (attempt.is_interrupted) {
          stopped = true;
          is_halted = true;
        }
        if (is_finished(attempt) && options.fault_point) options.fault_point("read");
        if (is_finished(attempt)) {
          const std::lock_guard lock(pending_mutex);
          pending.push_back({attempt.outcome->rows, attempt.outcome->bytes, tasks[position].work});
        }
      } catch (...) {
        const std::lock_guard lock(pending_mutex);
        if (!unexpected) unexpected = std::current_exception();
        is_halted = true;
      }
      if (omp_get_thread_num() == 0) report_pending();
    }
    // Thread 0 talks MPI: while the others finish their last partitions it keeps reporting and
    // sends the rank's heartbeat, so a long partition on another thread is not taken for a
    // silent rank.
    if (omp_get_thread_num() == 0) {
      try {
        while (num_done.load() < largest_first.size()) {
          report_pending();
          progress.heartbeat();
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
      } catch (...) {
        const std::lock_guard lock(pending_mutex);
        if (!unexpected) unexpected = std::current_exception();
        is_halted = true;
      }
    }
  }
  if (unexpected) std::rethrow_exception(unexpected);
  report_pending();
  is_stopped = stopped;
  return attempts;
}

// The units read this pass, heaviest first (ties by index): the order dynamic assignment hands
// them out in, so the big splits start early and the small ones fill the gaps at the end.
std::vector<std::size_t> heaviest_first(const PassPlan& pass) {
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < pass.reader.size(); ++i) {
    if (pass.reader[i] >= 0) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return pass.weight[a] > pass.weight[b];
  });
  return order;
}

} // namespace

PassWork run_pass(const mpi::Communicator& comm, const job::JobSpec& job,
                  const model::Trainer& trainer,
                  const std::vector<lake::PartitionInfo>& partitions,
                  const std::vector<WorkUnit>& units, const PassPlan& pass,
                  const RunOptions& options, int num_threads, RankCache& cache,
                  const PartialCache* partial_cache, Progress& progress,
                  OpenReaders* open_readers) {
  PassWork work;
  std::optional<LocalFailure> failure;
  const model::AccumulatorOptions accumulator{
      .nonfinite = job.lake.on_nonfinite == job::NonFiniteAction::drop_rows
                       ? model::NonFinitePolicy::drop_rows
                       : model::NonFinitePolicy::error,
      .num_threads = num_threads};
  const bool is_dynamic = job.run.schedule == job::ScheduleMode::dynamic && pass.is_first;
  // Under dynamic assignment a rank still reads its pinned units (files it holds open: whole, or
  // their first split) itself, before it asks for more.
  const auto is_pinned = [&pass](std::size_t i) {
    return i < pass.is_pinned.size() && pass.is_pinned[i] != 0;
  };
  std::vector<std::size_t> mine;
  for (std::size_t i = 0; i < pass.reader.size(); ++i) {
    if (pass.reader[i] == comm.rank() && (!is_dynamic || is_pinned(i))) mine.push_back(i);
  }
  std::vector<PartitionTask> tasks;
  if (cache.is_enabled) {
    for (std::size_t i : mine) cache.columns[i]; // every slot exists before threads look them up
  }
  std::optional<UnitDispenser> dispenser;
  if (is_dynamic) {
    std::vector<std::size_t> order = heaviest_first(pass);
    std::erase_if(order, is_pinned);
    dispenser.emplace(comm, std::move(order), pass.reader.size());
  }
  const bool is_slowed = options.test_block_delay_ms > 0 &&
                         (options.test_slow_rank < 0 || options.test_slow_rank == comm.rank());
  // Checked between blocks: a stop request is honoured within one block even in a huge partition.
  // The thread that talks MPI also tells rank 0 this rank is alive (Progress::heartbeat) and, on
  // rank 0 under dynamic assignment, answers the ranks asking for their next unit.
  const auto should_stop = [&options, &progress, &dispenser, is_slowed](std::int64_t blocks_done) {
    if (omp_get_thread_num() == 0) {
      progress.heartbeat();
      if (dispenser) dispenser->serve();
    }
    if (is_slowed) {
      std::this_thread::sleep_for(std::chrono::milliseconds(options.test_block_delay_ms));
    }
    return (options.stop_requested != nullptr && options.stop_requested->load()) ||
           (options.stop_after_blocks >= 0 && blocks_done >= options.stop_after_blocks);
  };
  const auto open_reader_of = [&](std::size_t i) -> std::shared_ptr<lake::PartitionReader> {
    if (open_readers == nullptr || units[i].first_row != 0) return nullptr;
    const auto found = open_readers->find(units[i].partition);
    if (found == open_readers->end()) return nullptr;
    std::shared_ptr<lake::PartitionReader> reader = std::move(found->second);
    open_readers->erase(found);
    return reader;
  };
  const auto task_of = [&](std::size_t i) -> PartitionTask {
    return {.partition = &partitions[units[i].partition],
                     .index = i,
                     .partition_index = units[i].partition,
                     .first_row = units[i].first_row,
                     .end_row = units[i].end_row,
                     .job = &job,
                     .trainer = &trainer,
                     .accumulator = accumulator,
                     .cache = cache.is_enabled ? &cache : nullptr,
                     .work = pass.weight[i],
                     .should_stop = should_stop,
                     .may_skip = pass.is_first,
                     .partial_cache = pass.is_first ? partial_cache : nullptr,
                     .is_profiled = pass.is_first && job.run.profile,
                     .open_reader = open_reader_of(i)};
  };
  for (std::size_t i : mine) tasks.push_back(task_of(i));
  const auto take = [&](Attempt& attempt) {
    if (attempt.failure) {
      if (!failure) failure = *attempt.failure;
    } else if (attempt.outcome) {
      work.outcomes.push_back(std::move(*attempt.outcome));
    }
  };
  try {
    if (!dispenser && num_threads > 1 && tasks.size() >= static_cast<std::size_t>(num_threads)) {
      std::vector<Attempt> attempts =
          attempt_in_parallel(comm, tasks, options, num_threads, progress, work.is_stopped);
      // In partition order, so the failure reported is the lowest partition's.
      for (Attempt& attempt : attempts) take(attempt);
    } else {
      // One unit at a time, its blocks shared by the threads: this rank's planned units (fewer
      // than threads), or under dynamic assignment its pinned units, then each unit rank 0
      // hands it.
      std::vector<double> buffer;
      std::int64_t num_done = 0;
      std::size_t next_planned = 0;
      bool is_halted = false;
      for (;;) {
        const bool is_stop = stop_before_next(options, num_done);
        work.is_stopped = work.is_stopped || is_stop;
        std::optional<PartitionTask> task;
        if (next_planned < tasks.size() && !is_stop && !is_halted) {
          task = tasks[next_planned++];
        } else if (dispenser) {
          const std::optional<std::size_t> unit = dispenser->next(is_halted || is_stop);
          if (!unit) break;
          if (cache.is_enabled) cache.columns[*unit];
          task = task_of(*unit);
        } else {
          break;
        }
        Attempt attempt = attempt_partition(comm, *task, options, buffer);
        if (attempt.is_interrupted) {
          work.is_stopped = is_halted = true;
          continue;
        }
        if (is_finished(attempt) && options.fault_point) options.fault_point("read");
        if (is_finished(attempt)) {
          progress.partition_done(attempt.outcome->rows, attempt.outcome->bytes, task->work);
        }
        take(attempt);
        if (failure) {
          is_halted = true;
          if (!dispenser) break;
        }
        ++num_done;
      }
    }
  } catch (const PeerSilentError&) {
    // Agreeing on a failure would wait for the silent rank forever: the job is ended instead.
    throw;
  } catch (const std::exception& error) {
    failure = LocalFailure{-1, fmt::format("{} [rank {}]", error.what(), comm.rank()),
                           kind_of(error)};
  }
  if (dispenser) {
    // Rank 0 answers until every rank is done (the others have said so to the progress first,
    // so waiting for the assignment's end is not taken for silence), then all learn who read what.
    if (!comm.is_root()) {
      dispenser->quit();
      progress.local_done();
    }
    work.readers = dispenser->finish([&progress] { progress.poll(); });
    if (comm.is_root()) progress.local_done();
  } else {
    progress.local_done();
  }
  schedule::raise_if_any_failed(comm, failure);
  return work;
}

} // namespace sluice::coordinator
