// Checkpoints: round trip of model and optimizer state, and every bad file rejected with the model
// and the file on disk left untouched.
#include <catch2/catch.hpp>

#include <tinycnn/io/checkpoint.hpp>
#include <tinycnn/models/fashion_mnist.hpp>

#include <filesystem>
#include <fstream>

using namespace tinycnn;
namespace fs = std::filesystem;

namespace {
fs::path temp_dir() {
  auto dir = fs::temp_directory_path() / ("tinycnn_ckpt_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}
std::vector<std::vector<float>> snapshot(nn::Sequential<float>& net) {
  std::vector<std::vector<float>> out;
  for (auto& [name, t] : net.state()) out.push_back(t->to_vector());
  return out;
}
std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}
}  // namespace

TEST_CASE("checkpoint: model and optimizer state round trip", "[io][checkpoint]") {
  const auto path = (temp_dir() / "roundtrip.safetensors").string();
  auto net = models::lenet5<float>(1);
  optim::SGD<float, cpu> sgd(net.parameters(), {.lr = 0.05, .momentum = 0.9});
  Tensor<float> x({2, 1, 28, 28});
  ops::uniform_(x, 3);
  net.forward(x);
  net.backward(Tensor<float>::full({2, 10}, 0.1f));
  sgd.step();
  io::save_checkpoint(path, net, &sgd, {{"epoch", "7"}});

  auto other = models::lenet5<float>(2);  // different initial weights
  optim::SGD<float, cpu> sgd2(other.parameters(), {.lr = 0.5, .momentum = 0.9});
  const auto meta = io::load_checkpoint(path, other, &sgd2);
  CHECK(meta.at("epoch") == "7");
  CHECK(snapshot(other) == snapshot(net));
  CHECK(sgd2.steps() == 1);
  CHECK(sgd2.lr() == Approx(0.05));
  CHECK(sgd2.state()[0].second->to_vector() == sgd.state()[0].second->to_vector());
}

TEST_CASE("checkpoint: batch-norm running statistics are saved", "[io][checkpoint]") {
  const auto path = (temp_dir() / "bn.safetensors").string();
  auto net = models::fashion_mnist_cnn<float>(1, {.width = 4});
  Tensor<float> x({4, 1, 28, 28});
  ops::uniform_(x, 5);
  net.forward(x);  // training forward updates running statistics
  io::save_checkpoint(path, net);
  auto copy = models::fashion_mnist_cnn<float>(9, {.width = 4});
  io::load_checkpoint(path, copy);
  CHECK(snapshot(copy) == snapshot(net));
  io::SafetensorsFile file(path);
  CHECK(file.contains("model.bn1.running_mean"));
  CHECK(file.contains("model.bn1.running_var"));
}

TEST_CASE("checkpoint: a wrong or corrupt file changes nothing", "[io][checkpoint][errors]") {
  using Catch::Contains;
  const auto dir = temp_dir();
  const auto lenet_path = (dir / "lenet.safetensors").string();
  auto lenet = models::lenet5<float>(1);
  io::save_checkpoint(lenet_path, lenet);

  auto cnn = models::fashion_mnist_cnn<float>(3, {.width = 8});
  const auto before = snapshot(cnn);
  REQUIRE_THROWS_WITH(io::load_checkpoint(lenet_path, cnn), Contains("different model"));
  CHECK(snapshot(cnn) == before);

  // Same layer names, other shapes.
  auto wide = models::fashion_mnist_cnn<float>(3, {.width = 16});
  const auto wide_path = (dir / "wide.safetensors").string();
  io::save_checkpoint(wide_path, wide);
  REQUIRE_THROWS_WITH(io::load_checkpoint(wide_path, cnn), Contains("has shape") && Contains("expects"));
  CHECK(snapshot(cnn) == before);

  // Optimizer of another kind.
  optim::SGD<float, cpu> sgd(lenet.parameters(), {.lr = 0.1});
  io::save_checkpoint(lenet_path, lenet, &sgd);
  optim::Adam<float, cpu> adam(lenet.parameters(), {});
  REQUIRE_THROWS_WITH(io::load_checkpoint(lenet_path, lenet, &adam), Contains("holds the state of SGD"));

  // A safetensors file that is not a checkpoint, a truncated file, garbage.
  const auto plain = (dir / "plain.safetensors").string();
  Tensor<float> t({2}, {1, 2});
  io::save_safetensors(plain, {{"x", io::TensorRef(t)}});
  REQUIRE_THROWS_WITH(io::load_checkpoint(plain, cnn), Contains("not a tinycnn checkpoint"));
  const std::string bytes = read_file(lenet_path);
  const auto truncated = (dir / "truncated.safetensors").string();
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  REQUIRE_THROWS_AS(io::load_checkpoint(truncated, lenet), Error);
  const auto garbage = (dir / "garbage.safetensors").string();
  std::ofstream(garbage, std::ios::binary) << "not a checkpoint at all";
  REQUIRE_THROWS_AS(io::load_checkpoint(garbage, lenet), Error);
  REQUIRE_THROWS_AS(io::load_checkpoint((dir / "missing.safetensors").string(), lenet), Error);
  CHECK(snapshot(cnn) == before);

  // A failed save leaves the previous checkpoint as it was.
  const std::string previous = read_file(lenet_path);
  REQUIRE_THROWS_AS(io::save_checkpoint((dir / "no_such_dir" / "x.safetensors").string(), lenet), Error);
  CHECK(read_file(lenet_path) == previous);
  fs::remove_all(dir);
}
