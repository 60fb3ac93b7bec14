print("maml-sinusoid: not yet")
