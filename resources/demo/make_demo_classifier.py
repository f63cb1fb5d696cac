#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Makes the demo image classifier: a tiny CNN trained on scikit-learn's 8x8 digits, written as
ONNX with the `onnx` helper API, plus its test images and labels as .npy.

Debian 12: apt-get install python3-torch python3-onnx python3-sklearn. Runs in about 10 s on 2 cores.
Writes demo_classifier.onnx, demo_digits_x.npy (float32 [450,1,8,8], pixel/16) and
demo_digits_y.npy (int64 [450]) next to this script.
"""
import os

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HERE = os.path.dirname(os.path.abspath(__file__))


def data():
    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None, :, :]
    y = d.target.astype(np.int64)
    return train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.fc1 = torch.nn.Linear(8 * 4 * 4, 32)
        self.fc2 = torch.nn.Linear(32, 10)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv(x)), 2)
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


def train(xtr, ytr):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    xt, yt = torch.from_numpy(xtr), torch.from_numpy(ytr)
    for _ in range(60):
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
            opt.step()
    return net


def to_onnx(net):
    w = {k: v.detach().numpy().astype(np.float32) for k, v in net.state_dict().items()}
    inits = [
        numpy_helper.from_array(w["conv.weight"], "conv.weight"),
        numpy_helper.from_array(w["conv.bias"], "conv.bias"),
        numpy_helper.from_array(w["fc1.weight"], "fc1.weight"),  # [out, in]: Gemm transB=1
        numpy_helper.from_array(w["fc1.bias"], "fc1.bias"),
        # fc2 as MatMul + Add with the weight stored [in, out], as many exporters write Linear layers.
        numpy_helper.from_array(np.ascontiguousarray(w["fc2.weight"].T), "fc2.weight"),
        numpy_helper.from_array(w["fc2.bias"], "fc2.bias"),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "conv.weight", "conv.bias"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu1"),
        helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "fc1.weight", "fc1.bias"], ["h"], name="fc1", transB=1),
        helper.make_node("Relu", ["h"], ["hr"], name="relu2"),
        helper.make_node("MatMul", ["hr", "fc2.weight"], ["m"], name="fc2"),
        helper.make_node("Add", ["m", "fc2.bias"], ["logits"], name="fc2_bias"),
    ]
    graph = helper.make_graph(
        nodes, "demo_digits_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])], inits)
    model = helper.make_model(graph, producer_name="quantscope make_demo_classifier.py",
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main():
    xtr, xte, ytr, yte = data()
    net = train(xtr, ytr)
    with torch.no_grad():
        acc = (net(torch.from_numpy(xte)).argmax(1).numpy() == yte).mean()
    onnx.save(to_onnx(net), os.path.join(HERE, "demo_classifier.onnx"))
    np.save(os.path.join(HERE, "demo_digits_x.npy"), xte)
    np.save(os.path.join(HERE, "demo_digits_y.npy"), yte)
    print(f"test accuracy (torch fp32): {acc:.4f} on {len(yte)} images")


if __name__ == "__main__":
    main()
