"""The LSTM encoder-decoder (seq2seq) model, on Keras 3 with TensorFlow."""
