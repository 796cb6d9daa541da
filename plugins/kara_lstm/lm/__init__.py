"""``lstm_lm``, the frame language model (Kara's default model): the model (:mod:`.model`),
its options (:mod:`.options`), Keras graph and sampling loop (:mod:`.network`), output
heads (:mod:`.heads`), the tokens head's codebook (:mod:`.codebook`) and held-out score
(:mod:`.score`)."""
