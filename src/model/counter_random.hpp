// CounterRandom: stateless random numbers keyed by a tuple of integers, so a draw depends only on
// what it is for (seed, pass, partition, row), never on ranks, threads, block sizes or call order.
#pragma once

#include <cstdint>

namespace sluice::model {

/// splitmix64's step and finaliser: a bijection on 64-bit words with full avalanche.
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// A key hashed from a sequence of words: with() extends the key, uniform() draws from it. Keys
/// share prefixes, so a partition's key is built once and each row costs two mixes.
class CounterRandom {
public:
  constexpr explicit CounterRandom(std::uint64_t seed) noexcept : key_(mix64(seed)) {}

  constexpr CounterRandom with(std::uint64_t word) const noexcept {
    CounterRandom next = *this;
    next.key_ = combine(key_, word);
    return next;
  }

  constexpr std::uint64_t bits(std::uint64_t counter) const noexcept {
    return combine(key_, counter);
  }

  /// Uniform in the open interval (0, 1): 52 random bits offset by half a step, so 0 and 1 (and
  /// so log(0)) cannot occur. 52, not 53: (2^53 − 1) + 0.5 would round up to 2^53, giving 1.
  constexpr double uniform(std::uint64_t counter) const noexcept {
    return (static_cast<double>(bits(counter) >> 12) + 0.5) * 0x1.0p-52;
  }

private:
  // Mixing the word before the xor keeps (key, word) pairs from cancelling each other.
  static constexpr std::uint64_t combine(std::uint64_t key, std::uint64_t word) noexcept {
    return mix64(key ^ mix64(word));
  }

  std::uint64_t key_;
};

} // namespace sluice::model
