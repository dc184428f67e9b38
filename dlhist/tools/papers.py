"""Every paper the curriculum cites: full citations with links, never copies, keyed by topic.

For a topic whose folder exists, its entry is the "## Papers" section of the topic's README.md, item by item, with
the line breaks joined (``tests/tools/test_overview.py`` checks that the two are equal, so neither can drift: when a
README's papers change, change them here too). For a planned topic, the papers it is planned to reproduce (see
../shared/design/sections-03-05.md); its README will take them over. ``dlhist overview`` writes PAPERS.md from this
file.

The year in "Authors (year)" is the year of the venue or journal issue where there is one, else of the preprint; the
venue is named as it was then (NIPS until 2017, NeurIPS from 2018). The planned topics' entries follow this; an
existing topic's entries are its README's, which a test keeps them equal to.
"""

from __future__ import annotations

import re

CITATIONS: dict[str, tuple[str, ...]] = {
    "01-deep-neural-networks/01-dnn": (
        "F. Rosenblatt (1958). The perceptron: a probabilistic model for information storage and organization in "
        "the brain. *Psychological Review* 65(6), 386–408. https://doi.org/10.1037/h0042519",
        "M. Minsky and S. Papert (1969). *Perceptrons: An Introduction to Computational Geometry.* MIT Press. "
        "https://mitpress.mit.edu/9780262630221/perceptrons/",
        "D. E. Rumelhart, G. E. Hinton and R. J. Williams (1986). Learning representations by back-propagating "
        "errors. *Nature* 323, 533–536. https://doi.org/10.1038/323533a0",
        "P. Y. Simard, D. Steinkraus and J. C. Platt (2003). Best practices for convolutional neural networks "
        "applied to visual document analysis. *ICDAR 2003.* https://doi.org/10.1109/ICDAR.2003.1227801",
        "N. Srivastava, G. Hinton, A. Krizhevsky, I. Sutskever and R. Salakhutdinov (2014). Dropout: a simple way "
        "to prevent neural networks from overfitting. *JMLR* 15, 1929–1958 (Table 2). "
        "https://jmlr.org/papers/v15/srivastava14a.html",
    ),
    "01-deep-neural-networks/02-cnn": (
        "Y. LeCun, B. Boser, J. S. Denker, D. Henderson, R. E. Howard, W. Hubbard and L. D. Jackel (1989). "
        "Backpropagation applied to handwritten zip code recognition. *Neural Computation* 1(4), 541–551. "
        "https://doi.org/10.1162/neco.1989.1.4.541",
        "Y. LeCun, L. Bottou, Y. Bengio and P. Haffner (1998). Gradient-based learning applied to document "
        "recognition. *Proceedings of the IEEE* 86(11), 2278–2324 (Sections II-A, II-B, III; Fig. 14; Table I). "
        "https://doi.org/10.1109/5.726791",
    ),
    "01-deep-neural-networks/03-alex-net": (
        "A. Krizhevsky, I. Sutskever and G. E. Hinton (2012). ImageNet classification with deep convolutional "
        "neural networks. *Advances in Neural Information Processing Systems 25 (NIPS 2012)*, 1097–1105. "
        "https://papers.nips.cc/paper/2012/hash/c399862d3b9d6b76c8436e924a68c45b-Abstract.html ; journal version: "
        "*Communications of the ACM* 60(6), 84–90 (2017), https://doi.org/10.1145/3065386",
        "K. Simonyan and A. Zisserman (2015). Very deep convolutional networks for large-scale image recognition. "
        "*ICLR 2015.* https://arxiv.org/abs/1409.1556",
        "K. He, X. Zhang, S. Ren and J. Sun (2015). Delving deep into rectifiers: surpassing human-level "
        "performance on ImageNet classification. *ICCV 2015* (the initialisation we use). "
        "https://arxiv.org/abs/1502.01852",
    ),
    "01-deep-neural-networks/04-u-net": (
        "O. Ronneberger, P. Fischer and T. Brox (2015). U-Net: convolutional networks for biomedical image "
        "segmentation. *MICCAI 2015*, LNCS 9351, 234–241. https://doi.org/10.1007/978-3-319-24574-4_28 · "
        "https://arxiv.org/abs/1505.04597",
        "D. Cireşan, A. Giusti, L. M. Gambardella and J. Schmidhuber (2012). Deep neural networks segment neuronal "
        "membranes in electron microscopy images. *NIPS 25*. "
        "https://papers.nips.cc/paper_files/paper/2012/hash/459a4ddcb586f24efd9395aa7662bc7c-Abstract.html",
        "J. Long, E. Shelhamer and T. Darrell (2015). Fully convolutional networks for semantic segmentation. *CVPR"
        " 2015.* https://arxiv.org/abs/1411.4038",
        "I. Arganda-Carreras et al. (2015). Crowdsourcing the creation of image segmentation algorithms for "
        "connectomics. *Frontiers in Neuroanatomy* 9:142. https://doi.org/10.3389/fnana.2015.00142",
    ),
    "02-optimization-and-regularization/01-weight-decay": (
        "A. Krogh and J. A. Hertz (1991). A simple weight decay can improve generalization. *Advances in Neural "
        "Information Processing Systems 4* (NIPS 1991), 950–957. "
        "https://papers.nips.cc/paper/1991/hash/8eefcfdf5990e441f0fb6f3fad709e21-Abstract.html",
        "I. Loshchilov and F. Hutter (2019). Decoupled weight decay regularization. *International Conference on "
        "Learning Representations (ICLR 2019).* https://arxiv.org/abs/1711.05101",
        "D. P. Kingma and J. Ba (2015). Adam: a method for stochastic optimization. *ICLR 2015.* "
        "https://arxiv.org/abs/1412.6980",
    ),
    "02-optimization-and-regularization/02-relu": (
        "V. Nair and G. E. Hinton (2010). Rectified linear units improve restricted Boltzmann machines. *ICML "
        "2010*, 807–814. https://www.cs.toronto.edu/~hinton/absps/reluICML.pdf",
        "X. Glorot, A. Bordes and Y. Bengio (2011). Deep sparse rectifier neural networks. *AISTATS 2011*, PMLR 15,"
        " 315–323. https://proceedings.mlr.press/v15/glorot11a.html",
        "X. Glorot and Y. Bengio (2010). Understanding the difficulty of training deep feedforward neural networks."
        " *AISTATS 2010*, PMLR 9, 249–256 (the initialisation used here, and why deep sigmoid networks stall). "
        "https://proceedings.mlr.press/v9/glorot10a.html",
        "A. Krizhevsky, I. Sutskever and G. E. Hinton (2012). ImageNet classification with deep convolutional "
        "neural networks. *NIPS 2012* (Figure 1: a ReLU CNN reaches 25% CIFAR-10 training error six times faster"
        " than a tanh one). https://papers.nips.cc/paper/2012/hash/c399862d3b9d6b76c8436e924a68c45b-Abstract.html",
    ),
    "02-optimization-and-regularization/03-residuals": (
        "K. He, X. Zhang, S. Ren and J. Sun (2016). Deep residual learning for image recognition. *CVPR 2016*, "
        "770–778. https://arxiv.org/abs/1512.03385, https://doi.org/10.1109/CVPR.2016.90",
        "K. He, X. Zhang, S. Ren and J. Sun (2015). Delving deep into rectifiers: surpassing human-level "
        "performance on ImageNet classification. *ICCV 2015* (the initialisation). https://arxiv.org/abs/1502.01852",
        "G. Yang, J. Pennington, V. Rao, J. Sohl-Dickstein and S. S. Schoenholz (2019). A mean field theory of "
        "batch normalization. *ICLR 2019* (why batch-normalised plain networks have exploding gradients at "
        "initialisation). https://arxiv.org/abs/1902.08129",
        "K. He, X. Zhang, S. Ren and J. Sun (2016). Identity mappings in deep residual networks. *ECCV 2016*. "
        "https://arxiv.org/abs/1603.05027",
    ),
    "02-optimization-and-regularization/04-dropout": (
        "N. Srivastava, G. Hinton, A. Krizhevsky, I. Sutskever and R. Salakhutdinov (2014). Dropout: a simple way "
        "to prevent neural networks from overfitting. *Journal of Machine Learning Research* 15(56), 1929–1958. "
        "https://jmlr.org/papers/v15/srivastava14a.html",
        "G. E. Hinton, N. Srivastava, A. Krizhevsky, I. Sutskever and R. R. Salakhutdinov (2012). Improving neural "
        "networks by preventing co-adaptation of feature detectors. https://arxiv.org/abs/1207.0580",
        "P. Y. Simard, D. Steinkraus and J. C. Platt (2003). Best practices for convolutional neural networks "
        "applied to visual document analysis. *ICDAR 2003* (the 1.60% baseline of Table 2). "
        "https://doi.org/10.1109/ICDAR.2003.1227801",
        "Y. Gal and Z. Ghahramani (2016). Dropout as a Bayesian approximation: representing model uncertainty in "
        "deep learning. *ICML 2016* (what came next: MC dropout). https://arxiv.org/abs/1506.02142",
    ),
    "02-optimization-and-regularization/05-batch-norm": (
        "S. Ioffe and C. Szegedy (2015). Batch normalization: accelerating deep network training by reducing "
        "internal covariate shift. *ICML 2015*, PMLR 37:448–456. https://proceedings.mlr.press/v37/ioffe15.html, "
        "https://arxiv.org/abs/1502.03167",
        "S. Santurkar, D. Tsipras, A. Ilyas and A. Madry (2018). How does batch normalization help optimization? "
        "*NeurIPS 2018*. https://arxiv.org/abs/1805.11604",
    ),
    "02-optimization-and-regularization/06-layer-norm": (
        "J. L. Ba, J. R. Kiros and G. E. Hinton (2016). Layer normalization. arXiv preprint. "
        "https://arxiv.org/abs/1607.06450",
        "S. Ioffe and C. Szegedy (2015). Batch normalization: accelerating deep network training by reducing "
        "internal covariate shift. *ICML 2015*, PMLR 37:448–456. https://arxiv.org/abs/1502.03167 (the previous "
        "topic, [05-batch-norm](../05-batch-norm/))",
        "A. Karpathy (2015). The unreasonable effectiveness of recurrent neural networks (char-rnn and the Tiny "
        "Shakespeare corpus). https://karpathy.github.io/2015/05/21/rnn-effectiveness/",
    ),
    "02-optimization-and-regularization/07-gelu": (
        "D. Hendrycks and K. Gimpel (2016). Gaussian error linear units (GELUs). arXiv:1606.08415. "
        "https://arxiv.org/abs/1606.08415 (code: https://github.com/hendrycks/GELUs)",
        "D.-A. Clevert, T. Unterthiner and S. Hochreiter (2016). Fast and accurate deep network learning by "
        "exponential linear units (ELUs). *ICLR 2016*. https://arxiv.org/abs/1511.07289",
        "V. Nair and G. E. Hinton (2010). Rectified linear units improve restricted Boltzmann machines. *ICML "
        "2010*. https://www.cs.toronto.edu/~hinton/absps/reluICML.pdf",
    ),
    "02-optimization-and-regularization/08-adam": (
        "D. P. Kingma and J. Ba (2015). Adam: a method for stochastic optimization. *ICLR 2015.* "
        "https://arxiv.org/abs/1412.6980",
        "J. Duchi, E. Hazan and Y. Singer (2011). Adaptive subgradient methods for online learning and stochastic "
        "optimization. *JMLR* 12, 2121–2159 (AdaGrad). https://jmlr.org/papers/v12/duchi11a.html",
        "T. Tieleman and G. Hinton (2012). Lecture 6.5, RMSProp. *COURSERA: Neural Networks for Machine Learning.* "
        "https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf",
        "I. Sutskever, J. Martens, G. Dahl and G. Hinton (2013). On the importance of initialization and momentum "
        "in deep learning. *ICML 2013* (Nesterov momentum). https://proceedings.mlr.press/v28/sutskever13.html",
        "N. Srivastava et al. (2014). Dropout. *JMLR* 15, 1929–1958 (the dropout rates of Figure 2). "
        "https://jmlr.org/papers/v15/srivastava14a.html",
    ),
    "03-sequence-modeling/01-rnn": (
        "R. J. Williams and D. Zipser (1989). A learning algorithm for continually running fully recurrent neural "
        "networks. *Neural Computation* 1(2):270–280. https://doi.org/10.1162/neco.1989.1.2.270",
        "J. L. Elman (1990). Finding structure in time. *Cognitive Science* 14(2):179–211. "
        "https://doi.org/10.1207/s15516709cog1402_1",
        "D. E. Rumelhart, G. E. Hinton and R. J. Williams (1986). Learning representations by back-propagating "
        "errors. *Nature* 323:533–536. https://doi.org/10.1038/323533a0",
        "P. J. Werbos (1990). Backpropagation through time: what it does and how to do it. *Proceedings of the "
        "IEEE* 78(10):1550–1560. https://doi.org/10.1109/5.58337",
    ),
    "03-sequence-modeling/02-lstm": (
        "S. Hochreiter and J. Schmidhuber (1997). Long short-term memory. *Neural Computation* 9(8):1735–1780. "
        "https://doi.org/10.1162/neco.1997.9.8.1735, https://www.bioinf.jku.at/publications/older/2604.pdf",
        "F. A. Gers, J. Schmidhuber and F. Cummins (2000). Learning to forget: continual prediction with LSTM. "
        "*Neural Computation* 12(10):2451–2471. https://doi.org/10.1162/089976600300015015",
        "A. Graves and J. Schmidhuber (2005). Framewise phoneme classification with bidirectional LSTM and other "
        "neural network architectures. *Neural Networks* 18(5–6):602–610. "
        "https://doi.org/10.1016/j.neunet.2005.06.042",
    ),
    "03-sequence-modeling/03-learning-to-forget": (
        "F. A. Gers, J. Schmidhuber and F. Cummins (2000). Learning to forget: continual prediction with LSTM. "
        "*Neural Computation* 12(10):2451–2471. https://doi.org/10.1162/089976600300015015 (an earlier version: "
        "*Proceedings of ICANN 1999*, IEE, pp. 850–855)",
        "S. Hochreiter and J. Schmidhuber (1997). Long short-term memory. *Neural Computation* 9(8):1735–1780. "
        "https://doi.org/10.1162/neco.1997.9.8.1735",
        "A. S. Reber (1967). Implicit learning of artificial grammars. *Journal of Verbal Learning and Verbal "
        "Behavior* 6(6):855–863. https://doi.org/10.1016/S0022-5371(67)80149-X",
        "R. Jozefowicz, W. Zaremba and I. Sutskever (2015). An empirical exploration of recurrent network "
        "architectures. *ICML 2015*, PMLR 37:2342–2350. https://proceedings.mlr.press/v37/jozefowicz15.html",
    ),
    "03-sequence-modeling/04-gru": (
        "K. Cho, B. van Merriënboer, C. Gulcehre, D. Bahdanau, F. Bougares, H. Schwenk and Y. Bengio (2014). "
        "Learning phrase representations using RNN encoder–decoder for statistical machine translation. *EMNLP "
        "2014*, pages 1724–1734. https://arxiv.org/abs/1406.1078",
        "J. Chung, C. Gulcehre, K. Cho and Y. Bengio (2014). Empirical evaluation of gated recurrent neural "
        "networks on sequence modeling. NIPS 2014 Deep Learning workshop. https://arxiv.org/abs/1412.3555",
        "N. Boulanger-Lewandowski, Y. Bengio and P. Vincent (2012). Modeling temporal dependencies in "
        "high-dimensional sequences: application to polyphonic music generation and transcription. *ICML 2012*. "
        "https://arxiv.org/abs/1206.6392 (the JSB Chorales split and the NLL per time step)",
    ),
    "03-sequence-modeling/05-word2vec": (
        "T. Mikolov, K. Chen, G. Corrado and J. Dean (2013a). Efficient estimation of word representations in "
        "vector space. *ICLR 2013 workshop*. https://arxiv.org/abs/1301.3781",
        "T. Mikolov, I. Sutskever, K. Chen, G. Corrado and J. Dean (2013b). Distributed representations of words "
        "and phrases and their compositionality. *NIPS 2013*, 3111–3119. https://arxiv.org/abs/1310.4546",
        "O. Levy and Y. Goldberg (2014). Neural word embedding as implicit matrix factorization. *NIPS 2014*. "
        "https://papers.nips.cc/paper/5477-neural-word-embedding-as-implicit-matrix-factorization",
        "L. Finkelstein, E. Gabrilovich, Y. Matias, E. Rivlin, Z. Solan, G. Wolfman and E. Ruppin (2002). Placing "
        "search in context: the concept revisited. *ACM Transactions on Information Systems* 20(1):116–131 "
        "(WordSim-353).",
        "R. Řehůřek and P. Sojka (2010). Software framework for topic modelling with large corpora. *LREC 2010 "
        "workshop* (gensim).",
    ),
    "03-sequence-modeling/06-seq2seq": (
        "I. Sutskever, O. Vinyals and Q. V. Le (2014). Sequence to sequence learning with neural networks. *NIPS "
        "2014*, 3104–3112. https://arxiv.org/abs/1409.3215",
        "K. Cho, B. van Merriënboer, C. Gulcehre, D. Bahdanau, F. Bougares, H. Schwenk and Y. Bengio (2014). "
        "Learning phrase representations using RNN encoder–decoder for statistical machine translation. *EMNLP "
        "2014*. https://arxiv.org/abs/1406.1078",
        "R. Sennrich, B. Haddow and A. Birch (2016). Neural machine translation of rare words with subword units. "
        "*ACL 2016*. https://arxiv.org/abs/1508.07909 (byte-pair encoding)",
        "K. Papineni, S. Roukos, T. Ward and W.-J. Zhu (2002). BLEU: a method for automatic evaluation of machine "
        "translation. *ACL 2002*; M. Post (2018). A call for clarity in reporting BLEU scores. *WMT 2018* "
        "(sacrebleu).",
        "D. Elliott, S. Frank, K. Sima'an and L. Specia (2016). Multi30K: multilingual English-German image "
        "descriptions. *Workshop on Vision and Language 2016* (French added by Elliott et al. 2017).",
    ),
    "03-sequence-modeling/07-attention": (
        "D. Bahdanau, K. Cho and Y. Bengio (2014). Neural machine translation by jointly learning to align and "
        "translate. *ICLR 2015*. https://arxiv.org/abs/1409.0473",
        "K. Cho, B. van Merriënboer, D. Bahdanau and Y. Bengio (2014). On the properties of neural machine "
        "translation: encoder–decoder approaches. *SSST-8 2014*. https://arxiv.org/abs/1409.1259 (translation "
        "quality falls with sentence length)",
        "K. Cho, B. van Merriënboer, C. Gulcehre, D. Bahdanau, F. Bougares, H. Schwenk and Y. Bengio (2014). "
        "Learning phrase representations using RNN encoder–decoder for statistical machine translation. *EMNLP "
        "2014*. https://arxiv.org/abs/1406.1078 (the GRU and the RNN encoder–decoder)",
        "D. Elliott, S. Frank, K. Sima'an and L. Specia (2016). Multi30K: multilingual English-German image "
        "descriptions. *Workshop on Vision and Language 2016* (French added by Elliott et al. 2017).",
        "M. Post (2018). A call for clarity in reporting BLEU scores. *WMT 2018* (sacrebleu).",
    ),
    "03-sequence-modeling/08-mixture-of-experts": (
        "N. Shazeer, A. Mirhoseini, K. Maziarz, A. Davis, Q. Le, G. Hinton and J. Dean (2017). Outrageously large "
        "neural networks: the sparsely-gated mixture-of-experts layer. *ICLR 2017*. "
        "https://arxiv.org/abs/1701.06538",
        "R. A. Jacobs, M. I. Jordan, S. J. Nowlan and G. E. Hinton (1991). Adaptive mixtures of local experts. "
        "*Neural Computation* 3(1):79–87. https://doi.org/10.1162/neco.1991.3.1.79",
        "W. Fedus, B. Zoph and N. Shazeer (2022). Switch Transformers: scaling to trillion parameter models with "
        "simple and efficient sparsity. *JMLR* 23(120):1–39. https://jmlr.org/papers/v23/21-0998.html",
    ),
    "04-transformers/01-transformer": (
        "A. Vaswani, N. Shazeer, N. Parmar, J. Uszkoreit, L. Jones, A. N. Gomez, Ł. Kaiser and I. Polosukhin "
        "(2017). Attention is all you need. *NIPS 2017*. https://arxiv.org/abs/1706.03762",
        "J. L. Ba, J. R. Kiros and G. E. Hinton (2016). Layer normalization. https://arxiv.org/abs/1607.06450",
        "R. Xiong, Y. Yang, D. He, K. Zheng, S. Zheng, C. Xing, H. Zhang, Y. Lan, L. Wang and T.-Y. Liu (2020). On "
        "layer normalization in the Transformer architecture. *ICML 2020*. https://arxiv.org/abs/2002.04745 "
        "(pre-norm)",
        "D. Bahdanau, K. Cho and Y. Bengio (2014). Neural machine translation by jointly learning to align and "
        "translate. *ICLR 2015*. https://arxiv.org/abs/1409.0473 (RNNsearch, the recurrent baseline)",
    ),
    "04-transformers/02-bert": (
        "J. Devlin, M.-W. Chang, K. Lee and K. Toutanova (2019). BERT: pre-training of deep bidirectional "
        "transformers for language understanding. *NAACL-HLT 2019*. https://arxiv.org/abs/1810.04805",
        "Y. Liu, M. Ott, N. Goyal, J. Du, M. Joshi, D. Chen, O. Levy, M. Lewis, L. Zettlemoyer and V. Stoyanov (2019). "
        "RoBERTa: A robustly optimized BERT pretraining approach. https://arxiv.org/abs/1907.11692",
    ),
    "04-transformers/03-t5": (
        "C. Raffel, N. Shazeer, A. Roberts, K. Lee, S. Narang, M. Matena, Y. Zhou, W. Li and P. J. Liu (2020). "
        "Exploring the limits of transfer learning with a unified text-to-text transformer. *JMLR* 21(140):1–67. "
        "https://jmlr.org/papers/v21/20-074.html",
    ),
    "04-transformers/04-gpt": (
        "A. Radford, J. Wu, R. Child, D. Luan, D. Amodei and I. Sutskever (2019). Language models are unsupervised "
        "multitask learners. OpenAI. "
        "https://cdn.openai.com/better-language-models/language_models_are_unsupervised_multitask_learners.pdf",
        "J. Kaplan, S. McCandlish, T. Henighan, T. B. Brown, B. Chess, R. Child, S. Gray, A. Radford, J. Wu and D. "
        "Amodei (2020). Scaling laws for neural language models. https://arxiv.org/abs/2001.08361",
        "T. B. Brown et al. (2020). Language models are few-shot learners. *NeurIPS 2020*. "
        "https://arxiv.org/abs/2005.14165",
        "C. Olsson et al. (2022). In-context learning and induction heads. https://arxiv.org/abs/2209.11895",
        "S. C. Y. Chan, A. Santoro, A. K. Lampinen, J. X. Wang, A. Singh, P. H. Richemond, J. McClelland and F. "
        "Hill (2022). Data distributional properties drive emergent in-context learning in transformers. *NeurIPS "
        "2022*. https://arxiv.org/abs/2205.05055 (bursty training sequences)",
        "J. Hoffmann et al. (2022). Training compute-optimal large language models. *NeurIPS 2022*. "
        "https://arxiv.org/abs/2203.15556",
    ),
    "04-transformers/05-lora": (
        "E. J. Hu, Y. Shen, P. Wallis, Z. Allen-Zhu, Y. Li, S. Wang, L. Wang and W. Chen (2021). LoRA: Low-rank "
        "adaptation of large language models. *ICLR 2022*. https://arxiv.org/abs/2106.09685",
        "A. Aghajanyan, L. Zettlemoyer and S. Gupta (2020). Intrinsic dimensionality explains the effectiveness of "
        "language model fine-tuning. *ACL 2021*. https://arxiv.org/abs/2012.13255",
        "N. Houlsby, A. Giurgiu, S. Jastrzebski, B. Morrone, Q. de Laroussilhe, A. Gesmundo, M. Attariyan and S. "
        "Gelly (2019). Parameter-efficient transfer learning for NLP. *ICML 2019*. https://arxiv.org/abs/1902.00751"
        " (adapters)",
        "Y. Liu, M. Ott, N. Goyal, J. Du, M. Joshi, D. Chen, O. Levy, M. Lewis, L. Zettlemoyer and V. Stoyanov "
        "(2019). RoBERTa: A robustly optimized BERT pretraining approach. https://arxiv.org/abs/1907.11692 (the "
        "fine-tuning number of Table 2)",
        "X. L. Li and P. Liang (2021). Prefix-tuning: Optimizing continuous prompts for generation. *ACL 2021*. "
        "https://arxiv.org/abs/2101.00190",
        "T. Dettmers, A. Pagnoni, A. Holtzman and L. Zettlemoyer (2023). QLoRA: Efficient finetuning of quantized "
        "LLMs. *NeurIPS 2023*. https://arxiv.org/abs/2305.14314",
        "Y. Sheng, S. Cao, D. Li, C. Hooper, N. Lee, S. Yang, C. Chou, B. Zhu, L. Zheng, K. Keutzer, J. E. Gonzalez"
        " and I. Stoica (2023). S-LoRA: Serving thousands of concurrent LoRA adapters. *MLSys 2024*. "
        "https://arxiv.org/abs/2311.03285",
        "S.-Y. Liu, C.-Y. Wang, H. Yin, P. Molchanov, Y.-C. F. Wang, K.-T. Cheng and M.-H. Chen (2024). DoRA: "
        "Weight-decomposed low-rank adaptation. *ICML 2024*. https://arxiv.org/abs/2402.09353",
    ),
    "04-transformers/06-rlhf": (
        "D. M. Ziegler, N. Stiennon, J. Wu, T. B. Brown, A. Radford, D. Amodei, P. Christiano and G. Irving (2019). "
        "Fine-tuning language models from human preferences. https://arxiv.org/abs/1909.08593",
        "J. Schulman, F. Wolski, P. Dhariwal, A. Radford and O. Klimov (2017). Proximal policy optimization "
        "algorithms. https://arxiv.org/abs/1707.06347",
        "L. Ouyang et al. (2022). Training language models to follow instructions with human feedback. "
        "*NeurIPS 2022*. https://arxiv.org/abs/2203.02155",
        "Y. Bai et al. (2022). Training a helpful and harmless assistant with reinforcement learning from human "
        "feedback. https://arxiv.org/abs/2204.05862",
    ),
    "04-transformers/07-vision-transformer": (
        "A. Dosovitskiy, L. Beyer, A. Kolesnikov, D. Weissenborn, X. Zhai, T. Unterthiner, M. Dehghani, M. "
        "Minderer, G. Heigold, S. Gelly, J. Uszkoreit and N. Houlsby (2020). An image is worth 16x16 words: "
        "Transformers for image recognition at scale. *ICLR 2021*. https://arxiv.org/abs/2010.11929",
        "Y. LeCun, L. Bottou, Y. Bengio and P. Haffner (1998). Gradient-based learning applied to document "
        "recognition. *Proceedings of the IEEE* 86(11). (LeNet, the CNN baseline)",
        "H. Touvron, M. Cord, M. Douze, F. Massa, A. Sablayrolles and H. Jégou (2021). Training data-efficient "
        "image transformers and distillation through attention. *ICML 2021*. https://arxiv.org/abs/2012.12877 "
        "(DeiT)",
    ),
    "05-image-generation/01-gan": (
        "I. J. Goodfellow, J. Pouget-Abadie, M. Mirza, B. Xu, D. Warde-Farley, S. Ozair, A. Courville and Y. Bengio "
        "(2014). Generative adversarial nets. *NIPS 2014*. https://arxiv.org/abs/1406.2661",
        "L. Theis, A. van den Oord and M. Bethge (2016). A note on the evaluation of generative models. *ICLR 2016* "
        "(why the Parzen-window likelihood misleads). https://arxiv.org/abs/1511.01844",
        "M. Heusel, H. Ramsauer, T. Unterthiner, B. Nessler and S. Hochreiter (2017). GANs trained by a two "
        "time-scale update rule converge to a local Nash equilibrium. *NIPS 2017* (FID). "
        "https://arxiv.org/abs/1706.08500",
        "T. Kynkäänniemi, T. Karras, S. Laine, J. Lehtinen and T. Aila (2019). Improved precision and recall metric "
        "for assessing generative models. *NeurIPS 2019*. https://arxiv.org/abs/1904.06991",
        "A. Radford, L. Metz and S. Chintala (2016). Unsupervised representation learning with deep convolutional "
        "generative adversarial networks. *ICLR 2016* (DCGAN: batch normalisation in the generator, Adam at 2·10⁻⁴ "
        "and β₁ = 0.5). https://arxiv.org/abs/1511.06434",
    ),
    "05-image-generation/02-vae": (
        "D. P. Kingma and M. Welling (2014). Auto-encoding variational Bayes. *ICLR 2014*. "
        "https://arxiv.org/abs/1312.6114",
        "A. van den Oord, O. Vinyals and K. Kavukcuoglu (2017). Neural discrete representation learning. "
        "*NIPS 2017* (VQ-VAE). https://arxiv.org/abs/1711.00937",
        "A. Razavi, A. van den Oord and O. Vinyals (2019). Generating diverse high-fidelity images with VQ-VAE-2. "
        "*NeurIPS 2019*. https://arxiv.org/abs/1906.00446",
        "G. E. Hinton, P. Dayan, B. J. Frey and R. M. Neal (1995). The \"wake-sleep\" algorithm for unsupervised "
        "neural networks. *Science* 268(5214), 1158–1161. https://doi.org/10.1126/science.7761831",
        "Y. Burda, R. Grosse and R. Salakhutdinov (2016). Importance weighted autoencoders. *ICLR 2016*. "
        "https://arxiv.org/abs/1509.00519",
    ),
    "05-image-generation/03-diffusion": (
        "J. Sohl-Dickstein, E. A. Weiss, N. Maheswaranathan and S. Ganguli (2015). Deep unsupervised learning "
        "using nonequilibrium thermodynamics. *ICML 2015*. https://arxiv.org/abs/1503.03585",
        "J. Ho, A. Jain and P. Abbeel (2020). Denoising diffusion probabilistic models. *NeurIPS 2020*. "
        "https://arxiv.org/abs/2006.11239",
        "A. Nichol and P. Dhariwal (2021). Improved denoising diffusion probabilistic models. *ICML 2021*. "
        "https://arxiv.org/abs/2102.09672",
        "Y. Song, J. Sohl-Dickstein, D. P. Kingma, A. Kumar, S. Ermon and B. Poole (2021). Score-based generative "
        "modeling through stochastic differential equations. *ICLR 2021*. https://arxiv.org/abs/2011.13456",
        "J. Song, C. Meng and S. Ermon (2021). Denoising diffusion implicit models. *ICLR 2021* (sampling in fewer "
        "steps). https://arxiv.org/abs/2010.02502",
        "P. Dhariwal and A. Nichol (2021). Diffusion models beat GANs on image synthesis. *NeurIPS 2021* "
        "(classifier guidance). https://arxiv.org/abs/2105.05233",
    ),
    "05-image-generation/04-latent-diffusion": (
        "R. Rombach, A. Blattmann, D. Lorenz, P. Esser and B. Ommer (2022). High-resolution image synthesis with "
        "latent diffusion models. *CVPR 2022*. https://arxiv.org/abs/2112.10752",
        "J. Ho and T. Salimans (2021). Classifier-free diffusion guidance. *NeurIPS 2021 Workshop on Deep Generative "
        "Models and Downstream Applications*. https://arxiv.org/abs/2207.12598",
    ),
    "05-image-generation/05-clip": (
        "A. Radford, J. W. Kim, C. Hallacy, A. Ramesh, G. Goh, S. Agarwal, G. Sastry, A. Askell, P. Mishkin, "
        "J. Clark, G. Krueger and I. Sutskever (2021). Learning transferable visual models from natural language "
        "supervision. *ICML 2021*. https://arxiv.org/abs/2103.00020",
        "A. Joulin, L. van der Maaten, A. Jabri and N. Vasilache (2016). Learning visual features from large weakly "
        "supervised data. *ECCV 2016* (the bag-of-words predictor). https://arxiv.org/abs/1511.02251",
    ),
    "05-image-generation/06-dall-e": (
        "A. Ramesh, M. Pavlov, G. Goh, S. Gray, C. Voss, A. Radford, M. Chen and I. Sutskever (2021). Zero-shot "
        "text-to-image generation. *ICML 2021*. https://arxiv.org/abs/2102.12092",
        "A. Ramesh, P. Dhariwal, A. Nichol, C. Chu and M. Chen (2022). Hierarchical text-conditional image "
        "generation with CLIP latents. https://arxiv.org/abs/2204.06125",
    ),
}

# Links for the few README citations that give none (the README text stays as it is; the paper list adds the link),
# keyed by the citation's opening "Authors (year)". A test checks that each key is used and that its citation has no
# link of its own: once a README gains the link, drop the entry.
EXTRA_LINKS: dict[str, tuple[str, ...]] = {
    "L. Finkelstein, E. Gabrilovich, Y. Matias, E. Rivlin, Z. Solan, G. Wolfman and E. Ruppin (2002)":
        ("https://doi.org/10.1145/503104.503110",),
    "R. Řehůřek and P. Sojka (2010)": ("https://is.muni.cz/publication/884893/en",),
    "K. Papineni, S. Roukos, T. Ward and W.-J. Zhu (2002)":
        ("https://aclanthology.org/P02-1040/", "https://aclanthology.org/W18-6319/"),
    "D. Elliott, S. Frank, K. Sima'an and L. Specia (2016)": ("https://arxiv.org/abs/1605.00459",),
    "M. Post (2018)": ("https://aclanthology.org/W18-6319/",),
    "Y. LeCun, L. Bottou, Y. Bengio and P. Haffner (1998)": ("https://doi.org/10.1109/5.726791",),
}

URL = re.compile(r"https?://[^\s,;)]*[^\s,;).]")
OPENING = re.compile(r"^(.*?\(\d{4}[a-z]?\))")


def opening(citation: str) -> str:
    """A citation's "Authors (year)", the key of EXTRA_LINKS."""
    m = OPENING.match(citation)
    return m.group(1) if m else citation


def links(citation: str) -> list[str]:
    """The URLs a citation gives, or else those EXTRA_LINKS gives for it."""
    return URL.findall(citation) or list(EXTRA_LINKS.get(opening(citation), ()))


def readme_citations(text: str) -> list[str] | None:
    """The items of a README's "## Papers" section, each joined into one line; None without that section.

    An item starts with "- " and continues on lines indented by two spaces; a line of anything else (a blank line,
    the "Data:" paragraph) ends the list.
    """
    if "\n## Papers\n" not in text:
        return None
    section = text.split("\n## Papers\n", 1)[1].split("\n## ", 1)[0]
    items: list[str] = []
    current: str | None = None
    for line in section.splitlines():
        if line.startswith("- "):
            if current is not None:
                items.append(current)
            current = line[2:]
        elif line.startswith("  ") and line.strip() and current is not None:
            current += " " + line.strip()
        elif current is not None:
            items.append(current)
            current = None
    if current is not None:
        items.append(current)
    return [" ".join(item.split()) for item in items]
