// Example 02: train LeNet-5 or the Fashion-MNIST CNN on Fashion-MNIST, on the CPU or the GPU.
// Shared by main.cpp (CPU build) and main_cuda.cu (CPU + CUDA build).
#pragma once

#include <tinycnn/io/checkpoint.hpp>
#include <tinycnn/io/dataset.hpp>
#include <tinycnn/models/fashion_mnist.hpp>
#include <tinycnn/optim/optimizer.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <unistd.h>

namespace example {

struct Options {
  std::string model = "cnn";  // cnn | lenet
  std::string device = "cpu";
  std::string data;  // directory with the four IDX files; default: the Debian package's
  std::string optimizer = "adamw";  // sgd | adam | adamw
  std::string schedule = "cosine";  // cosine | step | none
  int epochs = 30;
  std::int64_t batch_size = 128;
  double lr = 2e-3, momentum = 0.9, weight_decay = 5e-4;
  bool augment = false;  // with dropout already in the CNN, augmentation under-fits in 30 epochs
  std::int64_t limit = 0;  // use only the first N training images (0: all)
  std::uint64_t seed = 1;
  std::string save, resume;
};

inline void usage() {
  std::cout <<
      "usage: 02_train_fashion_mnist [options]\n"
      "  --model cnn|lenet        network (default cnn)\n"
      "  --device cpu|cuda        where to train (cuda needs the _cuda build)\n"
      "  --data DIR               IDX files (default: /usr/share/datasets/fashion-mnist)\n"
      "  --epochs N               (default 30)\n"
      "  --batch-size N           (default 128)\n"
      "  --optimizer sgd|adam|adamw   (default adamw)\n"
      "  --lr X  --momentum X  --weight-decay X\n"
      "  --schedule cosine|step|none  learning-rate schedule over the epochs (default cosine)\n"
      "  --augment                random crop (pad 2) and horizontal flip\n"
      "  --limit N                train on the first N images only\n"
      "  --seed N                 initialisation, shuffling and augmentation seed\n"
      "  --save PATH              checkpoint after every epoch (atomically)\n"
      "  --resume PATH            continue from a checkpoint written by --save\n";
}

inline Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw tinycnn::Error("option " + a + " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") usage(), std::exit(0);
    else if (a == "--model") o.model = value();
    else if (a == "--device") o.device = value();
    else if (a == "--data") o.data = value();
    else if (a == "--epochs") o.epochs = std::stoi(value());
    else if (a == "--batch-size") o.batch_size = std::stoll(value());
    else if (a == "--optimizer") o.optimizer = value();
    else if (a == "--schedule") o.schedule = value();
    else if (a == "--lr") o.lr = std::stod(value());
    else if (a == "--momentum") o.momentum = std::stod(value());
    else if (a == "--weight-decay") o.weight_decay = std::stod(value());
    else if (a == "--augment") o.augment = true;
    else if (a == "--no-augment") o.augment = false;
    else if (a == "--limit") o.limit = std::stoll(value());
    else if (a == "--seed") o.seed = std::stoull(value());
    else if (a == "--save") o.save = value();
    else if (a == "--resume") o.resume = value();
    else throw tinycnn::Error("unknown option " + a + " (see --help)");
  }
  if (o.model != "cnn" && o.model != "lenet") throw tinycnn::Error("--model must be cnn or lenet");
  if (o.epochs < 1 || o.batch_size < 1) throw tinycnn::Error("--epochs and --batch-size must be >= 1");
  return o;
}

inline std::string clock_string(double seconds) {
  const long s = long(seconds + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

// One progress line, rewritten in place on a terminal, printed at the end of the epoch otherwise.
struct Progress {
  bool tty = isatty(1);
  std::chrono::steady_clock::time_point last{};
  void show(int epoch, int epochs, std::int64_t batch, std::int64_t batches, double loss, double acc,
            double images_per_s, double eta, bool final) {
    const auto now = std::chrono::steady_clock::now();
    if (!final && (!tty || now - last < std::chrono::milliseconds(200))) return;
    last = now;
    const int width = 24, filled = int(width * batch / std::max<std::int64_t>(batches, 1));
    std::printf("%sepoch %d/%d [%s%s] %lld/%lld loss %.4f acc %5.2f%% %7.0f img/s ETA %s%s",
                tty ? "\r" : "", epoch, epochs, std::string(filled, '#').c_str(),
                std::string(width - filled, '.').c_str(), (long long)batch, (long long)batches, loss,
                100 * acc, images_per_s, clock_string(eta).c_str(), final || !tty ? "\n" : "");
    std::fflush(stdout);
  }
};

template <class D>
std::int64_t count_correct(const tinycnn::Tensor<float, D>& logits,
                           const tinycnn::Tensor<std::int32_t, tinycnn::cpu>& labels) {
  const auto v = logits.to_vector();
  const std::int64_t n = logits.dim(0), k = logits.dim(1);
  std::int64_t correct = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t best = 0;
    for (std::int64_t j = 1; j < k; ++j)
      if (v[i * k + j] > v[i * k + best]) best = j;
    correct += best == labels.data()[i];
  }
  return correct;
}

template <class D>
double evaluate(tinycnn::nn::Sequential<float, D>& net, const tinycnn::io::Dataset& test,
                const std::vector<float>& mean, const std::vector<float>& stddev) {
  net.eval();
  tinycnn::io::DataLoader loader(test, {.batch_size = 500, .shuffle = false, .mean = mean,
                                        .stddev = stddev});
  loader.begin_epoch(0);
  tinycnn::io::Batch batch;
  std::int64_t correct = 0;
  while (loader.next(batch))
    correct += count_correct(net.forward(batch.images.template to<D>()), batch.labels);
  net.train();
  return double(correct) / double(test.size());
}

template <class D>
int train(const Options& o) {
  using namespace tinycnn;
  const std::string dir = !o.data.empty() ? o.data : io::find_fashion_mnist().value_or("");
  if (dir.empty())
    throw Error("Fashion-MNIST not found: install the Debian package dataset-fashion-mnist or pass --data DIR");
  io::Dataset train_set = io::load_mnist(dir, true);
  const io::Dataset test_set = io::load_mnist(dir, false);
  if (o.limit > 0 && o.limit < train_set.size()) {
    const auto n = o.limit;
    auto images = Tensor<float, cpu>::uninitialized({n, 1, 28, 28});
    std::copy_n(train_set.images.data(), n * 784, images.data());
    auto labels = Tensor<std::int32_t, cpu>::uninitialized({n});
    std::copy_n(train_set.labels.data(), n, labels.data());
    train_set = io::Dataset(std::move(images), std::move(labels));
  }
  const std::vector<float> mean{0.2860f}, stddev{0.3530f};  // Fashion-MNIST training set

  auto net = o.model == "lenet" ? models::lenet5<float, D>(o.seed) : models::fashion_mnist_cnn<float, D>(o.seed);
  std::cout << net.summary({o.batch_size, 1, 28, 28});

  auto params = net.parameters();
  std::unique_ptr<optim::Optimizer<float, D>> opt;
  if (o.optimizer == "sgd")
    opt = std::make_unique<optim::SGD<float, D>>(params, optim::SgdOptions{.lr = o.lr, .momentum = o.momentum,
                                                                           .weight_decay = o.weight_decay,
                                                                           .nesterov = o.momentum > 0});
  else if (o.optimizer == "adam")
    opt = std::make_unique<optim::Adam<float, D>>(params, optim::AdamOptions{.lr = o.lr, .weight_decay = o.weight_decay});
  else if (o.optimizer == "adamw")
    opt = std::make_unique<optim::AdamW<float, D>>(params, optim::AdamOptions{.lr = o.lr, .weight_decay = o.weight_decay});
  else
    throw Error("--optimizer must be sgd, adam or adamw, got " + o.optimizer);

  int first_epoch = 0;
  if (!o.resume.empty()) {
    const auto meta = io::load_checkpoint(o.resume, net, opt.get());
    first_epoch = meta.count("epoch") ? std::stoi(meta.at("epoch")) : 0;
    std::cout << "resumed from " << o.resume << " after epoch " << first_epoch << "\n";
  }
  auto lr_at = [&](int epoch) {
    if (o.schedule == "cosine") return optim::CosineLR{o.lr, o.epochs}(epoch);
    if (o.schedule == "step") return optim::StepLR{o.lr, std::max(1, o.epochs / 3), 0.1}(epoch);
    return o.lr;
  };

  io::DataLoader loader(train_set, {.batch_size = o.batch_size, .shuffle = true, .seed = o.seed,
                                    .mean = mean, .stddev = stddev,
                                    .crop_padding = o.augment ? 2 : 0, .horizontal_flip = o.augment});
  Progress progress;
  io::Batch batch;
  double best = 0;
  for (int epoch = first_epoch; epoch < o.epochs; ++epoch) {
    opt->set_lr(lr_at(epoch));
    loader.begin_epoch(std::uint64_t(epoch));
    const auto start = std::chrono::steady_clock::now();
    double loss_sum = 0;
    std::int64_t seen = 0, correct = 0, step = 0;
    while (loader.next(batch)) {
      const auto x = batch.images.template to<D>();
      const auto labels = batch.labels.template to<D>();
      const auto logits = net.forward(x);
      auto ce = ops::softmax_cross_entropy(logits, labels);
      if (!std::isfinite(ce.loss))
        throw Error("training diverged: the loss is " + std::to_string(ce.loss) + " at epoch " +
                    std::to_string(epoch + 1) + ", step " + std::to_string(step + 1) +
                    " (try a smaller --lr)");
      opt->zero_grad();
      net.backward(ce.dlogits);
      opt->step();
      ++step;
      loss_sum += double(ce.loss) * double(x.dim(0));
      correct += count_correct(logits, batch.labels);
      seen += x.dim(0);
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const double rate = double(seen) / std::max(secs, 1e-9);
      progress.show(epoch + 1, o.epochs, step, loader.batches_per_epoch(), loss_sum / double(seen),
                    double(correct) / double(seen), rate,
                    double(loader.size() - seen) / std::max(rate, 1e-9), step == loader.batches_per_epoch());
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double acc = evaluate(net, test_set, mean, stddev);
    best = std::max(best, acc);
    std::printf("epoch %d: train loss %.4f, train acc %.2f%%, test acc %.2f%%, %.1f s, %.0f img/s, lr %.2e\n",
                epoch + 1, loss_sum / double(seen), 100.0 * double(correct) / double(seen), 100 * acc,
                secs, double(seen) / secs, opt->lr());
    if (!o.save.empty())
      io::save_checkpoint(o.save, net, opt.get(), {{"epoch", std::to_string(epoch + 1)},
                                                    {"model", o.model}});
  }
  std::printf("final test accuracy %.2f%% (best %.2f%%)\n", 100 * evaluate(net, test_set, mean, stddev),
              100 * best);
  return 0;
}

}  // namespace example
