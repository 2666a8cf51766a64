"""A faithful reimplementation of the network in Tariq Rashid's "Make Your Own Neural
Network" (2016), for comparison only: float64, weights N(0, n^-1/2), sigmoid, no biases,
one record at a time, the CSV read whole with readlines() and parsed per record, as in
the book. The benchmark runs it beside gentlenet's --rashid preset on the same data."""
import numpy


class neuralNetwork:  # the book's name
    def __init__(self, inputnodes, hiddennodes, outputnodes, learningrate):
        self.inodes, self.hnodes, self.onodes, self.lr = inputnodes, hiddennodes, outputnodes, learningrate
        self.wih = numpy.random.normal(0.0, pow(self.inodes, -0.5), (self.hnodes, self.inodes))
        self.who = numpy.random.normal(0.0, pow(self.hnodes, -0.5), (self.onodes, self.hnodes))

    @staticmethod
    def activation_function(x):
        return 1.0 / (1.0 + numpy.exp(-x))

    def train(self, inputs_list, targets_list):
        inputs = numpy.array(inputs_list, ndmin=2).T
        targets = numpy.array(targets_list, ndmin=2).T
        hidden_outputs = self.activation_function(numpy.dot(self.wih, inputs))
        final_outputs = self.activation_function(numpy.dot(self.who, hidden_outputs))
        output_errors = targets - final_outputs
        hidden_errors = numpy.dot(self.who.T, output_errors)
        self.who += self.lr * numpy.dot(output_errors * final_outputs * (1.0 - final_outputs), hidden_outputs.T)
        self.wih += self.lr * numpy.dot(hidden_errors * hidden_outputs * (1.0 - hidden_outputs), inputs.T)

    def query(self, inputs_list):
        inputs = numpy.array(inputs_list, ndmin=2).T
        return self.activation_function(numpy.dot(self.who, self.activation_function(numpy.dot(self.wih, inputs))))


def run(train_csv, test_csv, epochs=5, hidden=200, lr=0.1, seed=0, on_epoch=None):
    """Train and test as the book does; returns the test accuracy."""
    numpy.random.seed(seed)
    n = neuralNetwork(784, hidden, 10, lr)
    with open(train_csv) as f:
        training_data_list = f.readlines()
    for e in range(epochs):
        for record in training_data_list:
            all_values = record.split(",")
            inputs = (numpy.asarray(all_values[1:], dtype=float) / 255.0 * 0.99) + 0.01
            targets = numpy.zeros(10) + 0.01
            targets[int(all_values[0])] = 0.99
            n.train(inputs, targets)
        if on_epoch:
            on_epoch(e + 1)
    with open(test_csv) as f:
        test_data_list = f.readlines()
    scorecard = []
    for record in test_data_list:
        all_values = record.split(",")
        outputs = n.query((numpy.asarray(all_values[1:], dtype=float) / 255.0 * 0.99) + 0.01)
        scorecard.append(1 if numpy.argmax(outputs) == int(all_values[0]) else 0)
    return sum(scorecard) / len(scorecard)
