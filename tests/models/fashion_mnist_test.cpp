// The Fashion-MNIST models: shapes, parameter counts (equal to the PyTorch definitions), wrong
// input, and a short training run on the real data that must learn.
#include <catch2/catch.hpp>

#include <tinycnn/io/dataset.hpp>
#include <tinycnn/models/fashion_mnist.hpp>
#include <tinycnn/optim/optimizer.hpp>

#include <iostream>

using namespace tinycnn;

TEST_CASE("models: LeNet-5 and the Fashion-MNIST CNN have the expected shapes and sizes", "[models]") {
  auto lenet = models::lenet5<float>();
  CHECK(lenet.output_shape({8, 1, 28, 28}) == Shape{8, 10});
  CHECK(lenet.parameter_count() == 61706);  // torchvision-style LeNet-5 for 28x28 inputs
  auto cnn = models::fashion_mnist_cnn<float>();
  CHECK(cnn.output_shape({8, 1, 28, 28}) == Shape{8, 10});
  // conv1 288, bn1 64, conv2 18432, bn2 128, fc1 3136*128+128, fc2 1290
  CHECK(cnn.parameter_count() == 288 + 64 + 18432 + 128 + 401536 + 1290);
  REQUIRE_THROWS_WITH(cnn.forward(Tensor<float>({2, 3, 28, 28})), Catch::Contains("layer 'conv1'"));
  REQUIRE_THROWS_WITH(lenet.forward(Tensor<float>({2, 1, 32, 32})), Catch::Contains("layer 'fc1'"));
}

TEST_CASE("models: LeNet-5 learns Fashion-MNIST in a few hundred steps on the CPU", "[models][train]") {
  const auto dir = io::find_fashion_mnist();
  if (!dir) {
    std::cout << "SKIPPED: Fashion-MNIST not installed" << std::endl;
    return;
  }
  const auto train = io::load_mnist(*dir, true), test = io::load_mnist(*dir, false);
  auto net = models::lenet5<float>(1);
  optim::Adam<float, cpu> adam(net.parameters(), {.lr = 2e-3});
  io::DataLoader loader(train, {.batch_size = 64, .seed = 1, .mean = {0.286f}, .stddev = {0.353f}});
  loader.begin_epoch(0);
  io::Batch batch;
  double first = 0, last = 0;
  for (int step = 0; step < 300 && loader.next(batch); ++step) {
    auto ce = ops::softmax_cross_entropy(net.forward(batch.images), batch.labels);
    adam.zero_grad();
    net.backward(ce.dlogits);
    adam.step();
    if (step < 20) first += ce.loss / 20;
    if (step >= 280) last += ce.loss / 20;
  }
  INFO("mean loss of the first 20 steps " << first << ", of the last 20 " << last);
  CHECK(last < 0.6 * first);
  net.eval();
  io::DataLoader test_loader(test, {.batch_size = 1000, .shuffle = false, .mean = {0.286f}, .stddev = {0.353f}});
  test_loader.begin_epoch(0);
  std::int64_t correct = 0;
  while (test_loader.next(batch)) {
    const auto logits = net.forward(batch.images).to_vector();
    for (std::int64_t i = 0; i < batch.labels.numel(); ++i) {
      std::int64_t best = 0;
      for (int j = 1; j < 10; ++j)
        if (logits[i * 10 + j] > logits[i * 10 + best]) best = j;
      correct += best == batch.labels.data()[i];
    }
  }
  const double accuracy = double(correct) / double(test.size());
  INFO("test accuracy after 300 steps: " << accuracy);
  CHECK(accuracy > 0.75);
}
