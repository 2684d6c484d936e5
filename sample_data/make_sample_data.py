"""Generate the synthetic sample corpus in this folder.

The titles and abstracts are composed from hand-written, field-specific building blocks
(background, open problems, methods, data, findings, implications and title templates for
several dozen research topics). None of the text is taken from a real paper; the method
names, numbers and results are invented. The output is fully determined by SEED, so running

    python sample_data/make_sample_data.py

rewrites papers.jsonl, papers.parquet and queries.jsonl byte for byte.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SEED = 20240517
PER_TOPIC = 5
ROW_GROUP_SIZE = 64
N_EMPTY_ABSTRACT = 5
N_NULL_ABSTRACT = 5
OUT_DIR = Path(__file__).resolve().parent

# ---------------------------------------------------------------------------------------------
# Topic building blocks. Slots in braces are filled per record: {task}, {Task}, {method},
# {Method}, {metric} and the random quantities made by numbers().
# An entry given as (task_indices, text) is used only for papers on one of those tasks; "pairs"
# maps task index -> method index (or a list of them) where not every task suits every method.
# ---------------------------------------------------------------------------------------------

TOPICS: list[dict] = [
    # ------------------------------------------------------------------ NLP
    {
        "genre": "ml",
        "tasks": [
            "clinical named entity recognition",
            "medication extraction from discharge summaries",
            "adverse drug event detection in clinical notes",
        ],
        "methods": [
            (
                "ontology-guided weak supervision",
                "We introduce OntoWeak, a weak supervision framework that turns terminology resources such as drug lexicons and problem lists into noisy labeling functions and denoises them with a learned label model.",
            ),
            (
                "span-level contrastive pretraining",
                "We propose SpanClin, an encoder pretrained with a span-level contrastive objective that pulls together mentions of the same clinical concept written by different authors.",
            ),
            (
                "instruction-tuned small language models",
                "We fine-tune compact instruction-following language models with fewer than one billion parameters on a mixture of public and synthetic clinical annotations.",
            ),
        ],
        "background": [
            "Unstructured clinical notes hold much of the information needed for pharmacovigilance, cohort discovery and quality measurement, yet this information is rarely available in coded form.",
            "{Task} is a prerequisite for many secondary uses of electronic health records, from phenotyping to automated trial screening.",
            "Clinical text is dense with abbreviations, negations and copied templates, which makes it markedly harder to process than newswire or biomedical literature.",
        ],
        "gaps": [
            "Supervised systems depend on expert annotation, which is slow, expensive and difficult to share across institutions because of privacy constraints.",
            "Models trained at one hospital often transfer poorly to another, where documentation habits, note types and patient populations differ.",
        ],
        "settings": [
            "We evaluate on {k} annotated corpora drawn from intensive care, oncology and outpatient settings, including a held-out hospital never seen during training.",
            "Experiments cover discharge summaries, radiology reports and nursing notes from two academic medical centres.",
        ],
        "metrics": ["strict entity-level F1", "micro-averaged F1", "relaxed span F1"],
        "findings": [
            "Gains are largest for rare entity types such as dosage frequency and route of administration, where recall improves by {pct}.",
            "False positives caused by negated and hypothetical mentions fall by nearly a third.",
            "With only {n_small} labeled notes, the model matches a fully supervised baseline trained on ten times as much data.",
        ],
        "implications": [
            "These results suggest that accurate clinical information extraction is achievable without large annotation budgets.",
            "The approach offers a practical route to deploying extraction models across hospitals with heterogeneous documentation practices.",
        ],
        "titles": [
            "{Method} for {task}",
            "Label-efficient {task} with {method}",
            "{Task} across institutions: a study of {method}",
            "Do we still need annotations? {Method} for {task}",
        ],
    },
    {
        "genre": "ml",
        "tasks": [
            "low-resource machine translation",
            "translation between closely related languages",
            "indigenous-language machine translation in the Americas",
        ],
        "methods": [
            (
                "iterative back-translation with quality filtering",
                "We propose an iterative back-translation scheme in which a learned quality estimator discards synthetic sentence pairs that are fluent but unfaithful before each round of retraining.",
            ),
            (
                "lexicon-constrained decoding",
                "We introduce LexiCon, a decoding algorithm that softly constrains the output toward translations licensed by a small bilingual dictionary collected from community speakers.",
            ),
            (
                "multilingual adapters",
                "We attach lightweight language-family adapters to a frozen multilingual encoder-decoder, so that related languages share parameters while retaining language-specific capacity.",
            ),
        ],
        "background": [
            "Most of the world's languages have little or no parallel text, and neural translation quality for them lags far behind that of high-resource pairs.",
            "{Task} matters for access to health information, education and public services in linguistically diverse regions.",
            "Large multilingual models have narrowed the gap for some languages, but their coverage is uneven and their outputs are often unreliable for languages underrepresented in pretraining.",
        ],
        "gaps": [
            "Synthetic data generated by back-translation can amplify errors when the initial model is weak.",
            "Standard automatic metrics correlate poorly with human judgments for morphologically rich languages, making progress difficult to measure.",
        ],
        "settings": [
            "Experiments span {k} language pairs from Africa, South Asia and the Pacific, each with fewer than {n_small} thousand parallel sentences.",
            "We additionally collect human adequacy and fluency ratings from native speakers for a subset of system outputs.",
        ],
        "metrics": ["chrF++", "BLEU", "COMET"],
        "findings": [
            "The largest improvements occur for languages with no script overlap with any high-resource language.",
            "Human raters prefer our outputs in {pct_big} of pairwise comparisons, with the strongest preference on adequacy rather than fluency.",
            "Hallucinated content, measured by a reference-free detector, drops by {pct} relative to the baseline.",
        ],
        "implications": [
            "Our findings indicate that modest amounts of community-curated data, used carefully, can yield usable translation systems.",
            "We release the models and the newly collected evaluation sets to support further work on underserved languages.",
        ],
        "titles": [
            "{Method} for {task}",
            "Improving {task} with {method}",
            "Beyond back-translation: {method} for {task}",
            "{Task} in the wild: lessons from {k} language pairs",
        ],
    },
    {
        "genre": "ml",
        "tasks": [
            "retrieval-augmented question answering",
            "factual consistency in long-form generation",
            "multi-hop reasoning over document collections",
        ],
        "methods": [
            (
                "retrieval-aware self-verification",
                "We propose VeriRAG, which trains a language model to decompose its draft answer into atomic claims, retrieve evidence for each claim and revise unsupported statements before responding.",
            ),
            (
                "learned evidence reranking",
                "We introduce a lightweight cross-encoder reranker trained with feedback from the downstream generator, so that retrieval is optimised for answer correctness rather than topical similarity.",
            ),
            (
                "citation-grounded decoding",
                "We present a decoding procedure that requires every generated sentence to be attributable to a retrieved passage and abstains when no passage provides sufficient support.",
            ),
        ],
        "background": [
            "Large language models answer open-domain questions fluently but frequently produce statements that are unsupported or contradicted by the sources they cite.",
            (
                (0,),
                "{Task} has become a standard way to connect language models with up-to-date external knowledge.",
            ),
            "Grounding generation in retrieved documents promises more verifiable outputs, but the interaction between retriever and generator remains poorly understood.",
        ],
        "gaps": [
            "Retrievers are usually trained independently of the generator and optimise relevance, which is only loosely related to whether a passage helps answer the question.",
            "Existing evaluations reward answer overlap and rarely check whether each claim is actually supported by evidence.",
        ],
        "settings": [
            "We evaluate on {k} open-domain and multi-hop benchmarks as well as a new set of long-form questions annotated for claim-level support.",
            "Experiments use open-weight models from 1 to 70 billion parameters and a retrieval corpus of {mil} million passages.",
        ],
        "metrics": ["exact match", "claim-level precision", "attributable answer rate"],
        "findings": [
            "The fraction of unsupported claims falls from {pct_big} to {pct}, with little loss in answer completeness.",
            "Smaller models benefit disproportionately, and a 7-billion-parameter model with our method outperforms a much larger model without it.",
            "When the corpus lacks the answer, the system abstains in most cases instead of guessing.",
        ],
        "implications": [
            "These results suggest that verification should be treated as a first-class component of retrieval-augmented systems.",
            "We discuss remaining failure modes, including subtle misreadings of numerical evidence.",
        ],
        "titles": [
            "{Method} for {task}",
            "Trust but verify: {method} for {task}",
            ((0, 2), "When retrieval is not enough: {method} for {task}"),
            ((0, 2), "Reducing unsupported claims in {task} via {method}"),
            ((1,), "Fewer hallucinations in {task} through {method}"),
        ],
    },
    {
        "genre": "ml",
        "tasks": [
            "scientific document representation",
            "citation recommendation",
            "reviewer assignment for conference submissions",
        ],
        "methods": [
            (
                "citation-informed contrastive learning",
                "We train a document encoder with a contrastive objective in which papers are positives for the works they cite and hard negatives are drawn from citations of citations.",
            ),
            (
                "task-specific adapters",
                "We extend a shared scientific encoder with small task-specific adapters for classification, regression, proximity search and ad hoc retrieval, trained jointly on a multi-task mixture.",
            ),
            (
                "hierarchical full-text encoders",
                "We propose a hierarchical encoder that summarises section-level embeddings of the full text into a single paper vector, rather than relying on the title and abstract alone.",
            ),
        ],
        "background": [
            "Dense embeddings of papers underpin literature search, recommendation and the analysis of how research fields evolve.",
            "{Task} is increasingly important as the volume of published research grows faster than any reader can follow.",
            "General-purpose sentence encoders capture topical similarity but miss the relational structure encoded in citations.",
        ],
        "gaps": [
            "Most existing models embed only titles and abstracts and are evaluated on a narrow set of tasks, leaving their generality unclear.",
            "Citation signals are noisy: papers cite for many reasons, and citation counts vary widely across fields.",
        ],
        "settings": [
            "We evaluate on a benchmark of {k} tasks covering classification, citation prediction, search and user-activity prediction across biomedicine, computer science and the social sciences.",
            "Training uses {n} citation triplets mined from a large open corpus of scholarly papers.",
        ],
        "metrics": ["nDCG@10", "mean average precision", "macro F1"],
        "findings": [
            "Gains are consistent across fields, including those such as mathematics and economics that are underrepresented in training.",
            "The embeddings recover field boundaries and emerging interdisciplinary clusters without any supervision.",
            "A single shared model with adapters matches separately fine-tuned models while requiring a fraction of the storage.",
        ],
        "implications": [
            "The released models can embed tens of millions of papers on modest hardware, enabling large-scale bibliometric studies.",
            "Our results argue for evaluating scientific embeddings on a broad suite of tasks rather than a single benchmark.",
        ],
        "titles": [
            "{Method} for {task}",
            "Better paper embeddings through {method}",
            "{Task} with {method}",
            "Revisiting {task}: the role of {method}",
        ],
    },
    # ------------------------------------------------------------------ computer vision
    {
        "genre": "ml",
        "pairs": [0, 2, 1],
        "tasks": [
            "novel view synthesis from sparse images",
            "dynamic scene reconstruction from monocular video",
            "large-scale urban 3D reconstruction",
        ],
        "methods": [
            (
                "Gaussian splatting with learned priors",
                "We represent the scene as a set of anisotropic 3D Gaussians whose initialisation and densification are guided by a pretrained monocular depth and normal estimator.",
            ),
            (
                "neural radiance fields with hash encodings",
                "We build on multiresolution hash-encoded radiance fields and add a visibility-aware regulariser that suppresses floating artifacts in poorly observed regions.",
            ),
            (
                "deformation fields with temporal consistency",
                "We model motion with a compact deformation field defined over a canonical space and enforce temporal consistency through a cycle loss between neighbouring frames.",
            ),
        ],
        "background": [
            "Reconstructing photorealistic 3D scenes from images is a long-standing goal of computer vision with applications in mapping, robotics and virtual production.",
            "{Task} has progressed rapidly since the introduction of differentiable volumetric rendering.",
            "Recent explicit and implicit scene representations achieve remarkable fidelity when many calibrated views are available.",
        ],
        "gaps": [
            "Quality degrades sharply when only a handful of views are available or when the scene contains moving objects.",
            "Training and rendering costs remain prohibitive for city-scale scenes captured over hours of video.",
        ],
        "settings": [
            "We evaluate on {k} indoor and outdoor benchmarks, using as few as three input views per scene.",
            "Experiments include a newly captured dataset of {n_small} handheld videos with ground-truth geometry from a laser scanner.",
        ],
        "metrics": ["PSNR", "SSIM", "F-score of the reconstructed geometry"],
        "findings": [
            "Our method renders novel views in real time at 1080p while training in under {k} minutes per scene.",
            "Geometry recovered by our method is markedly more accurate than that of prior work, reducing depth error by {pct}.",
            "Thin structures and reflective surfaces, common failure cases of earlier methods, are reconstructed faithfully.",
        ],
        "implications": [
            "These results bring high-quality 3D capture within reach of consumer devices.",
            "Remaining limitations include strong view-dependent effects and scenes with large unobserved regions.",
        ],
        "titles": [
            "{Method} for {task}",
            "Fast and faithful {task}",
            "{Task} via {method}",
            ((0,), "Fewer views, better scenes: {method} for {task}"),
            ((2,), "City-scale {task} in minutes"),
        ],
    },
    {
        "genre": "ml",
        "tasks": [
            "tumour segmentation in abdominal CT",
            "brain lesion segmentation in multi-sequence MRI",
            "multi-organ segmentation for radiotherapy planning",
        ],
        "methods": [
            (
                "foundation-model prompting",
                "We adapt a promptable segmentation foundation model to volumetric medical images by learning 3D prompt embeddings from a few annotated scans.",
            ),
            (
                "uncertainty-aware semi-supervised learning",
                "We propose a semi-supervised teacher-student framework in which pseudo-labels on unlabeled scans are weighted by voxel-wise epistemic uncertainty.",
            ),
            (
                "topology-preserving losses",
                "We introduce a differentiable loss based on persistent homology that penalises predictions whose connected components and holes disagree with the reference.",
            ),
        ],
        "background": [
            "Accurate segmentation of anatomical structures and lesions is central to diagnosis, treatment planning and quantitative imaging research.",
            "{Task} is labour-intensive when performed manually and shows substantial variability between annotators.",
            "Deep convolutional and transformer networks now approach expert performance on curated benchmarks.",
        ],
        "gaps": [
            "Performance often collapses on scans from new scanners, protocols or patient populations.",
            "Pixel-wise annotation of volumetric images is costly, and few institutions can label thousands of scans.",
        ],
        "settings": [
            "We evaluate on {k} public and in-house datasets totalling {n_small} annotated volumes from multiple vendors.",
            "An external test set from a hospital not involved in training is used to assess generalisation.",
        ],
        "metrics": ["Dice score", "lesion-wise F1", "normalised surface Dice"],
        "findings": [
            "Using only ten percent of the labels, our approach reaches {pct_big} of the fully supervised Dice score.",
            "Topological errors such as fragmented vessels and spurious islands are reduced by {pct}.",
            "Predicted uncertainty correlates with segmentation error, flagging cases that warrant expert review.",
        ],
        "implications": [
            "The approach could substantially lower the annotation cost of deploying segmentation models in new clinical settings.",
            "Prospective validation will be needed before clinical use.",
        ],
        "titles": [
            "{Method} for {task}",
            "Label-efficient {task} with {method}",
            "Robust {task} across scanners using {method}",
            "{Task}: a multi-centre evaluation of {method}",
        ],
    },
    {
        "genre": "ml",
        "pairs": [0, 1, 2],
        "tasks": [
            "3D object detection from lidar point clouds",
            "multi-camera bird's-eye-view perception",
            "pedestrian trajectory prediction",
        ],
        "methods": [
            (
                "camera-lidar fusion transformers",
                "We present a transformer that fuses camera and lidar features in a shared bird's-eye-view space using deformable cross-attention, tolerating miscalibration between sensors.",
            ),
            (
                "self-supervised occupancy pretraining",
                "We pretrain the perception backbone by predicting future occupancy from unlabeled driving logs, then fine-tune it on a small set of annotated frames.",
            ),
            (
                "scene-graph conditioned diffusion",
                "We model future trajectories with a diffusion model conditioned on a scene graph of agents, lanes and traffic signals.",
            ),
        ],
        "background": [
            "Reliable perception of surrounding vehicles, cyclists and pedestrians is fundamental to the safety of autonomous vehicles.",
            "{Task} must operate in real time under adverse weather, occlusion and sensor noise.",
            "Public driving datasets have enabled rapid progress, but they cover a limited range of cities and conditions.",
        ],
        "gaps": [
            "Annotating 3D bounding boxes is expensive, and models trained in one city often fail in another.",
            "Rare but safety-critical events, such as jaywalking or debris on the road, are poorly represented in training data.",
        ],
        "settings": [
            "We evaluate on {k} large-scale driving benchmarks and a held-out set of night-time and rainy sequences.",
            "Experiments use {n} hours of unlabeled driving logs for pretraining.",
        ],
        "metrics": [
            ((0,), "mean average precision"),
            ((1,), "NDS"),
            ((2,), "trajectory accuracy at three seconds"),
        ],
        "findings": [
            (
                (2,),
                "Sampled future trajectories respect lane geometry and social interactions, and collisions among predicted agents fall by {pct}.",
            ),
            (
                (0, 1),
                "Detection of distant and heavily occluded objects improves most, with recall at 50 metres rising by {pct}.",
            ),
            "The model runs at {k} frames per second on an automotive-grade accelerator.",
            (
                (0,),
                "Performance degrades gracefully when one sensor fails, unlike early-fusion baselines.",
            ),
        ],
        "implications": [
            "These findings support self-supervised pretraining as a scalable path toward robust driving perception.",
            "We discuss the implications for safety validation of learned perception systems.",
        ],
        "titles": [
            "{Method} for {task}",
            "Robust {task} with {method}",
            "{Task} under adverse conditions via {method}",
            "Scaling {task} with {method}",
        ],
    },
    # ------------------------------------------------------------------ machine learning
    {
        "genre": "ml",
        "tasks": [
            "molecular property prediction",
            "reaction yield prediction",
            "virtual screening of drug-like molecules",
        ],
        "methods": [
            (
                "equivariant graph neural networks",
                "We propose an E(3)-equivariant message-passing network that operates on 3D conformers and incorporates long-range electrostatic interactions through learned charges.",
            ),
            (
                "pretraining on quantum-chemical data",
                "We pretrain a graph transformer on {n} density functional theory calculations and transfer it to experimental property datasets.",
            ),
            (
                "uncertainty-guided active learning",
                "We combine a deep ensemble of graph neural networks with a batch active learning strategy that balances predicted activity, uncertainty and chemical diversity.",
            ),
        ],
        "background": [
            "Machine learning models that predict molecular properties can accelerate the design of drugs, catalysts and materials.",
            "{Task} traditionally relies on hand-crafted descriptors or expensive quantum-chemical calculations.",
            "Graph neural networks that learn directly from molecular structure have become a standard tool in computational chemistry.",
        ],
        "gaps": [
            "Experimental datasets are small and noisy, and models often fail on scaffolds not seen during training.",
            "Most models ignore 3D geometry and conformational flexibility, which determine many physical properties.",
        ],
        "settings": [
            "We evaluate on {k} property benchmarks using scaffold splits that prevent leakage of structurally similar molecules.",
            "A prospective screen of {n_small} compounds was carried out to test the model's predictions experimentally.",
        ],
        "metrics": ["ROC-AUC", "average precision", "enrichment factor"],
        "findings": [
            "In the prospective screen, the hit rate among model-selected compounds was {fold} times higher than that of random selection.",
            "Uncertainty estimates are well calibrated, and discarding the most uncertain predictions sharply reduces error.",
            "Learned representations cluster molecules by mechanism of action rather than by superficial structural similarity.",
        ],
        "implications": [
            "Our results show that geometric deep learning can deliver practical gains in early-stage discovery.",
            "The approach is particularly useful when experimental budgets allow only a few rounds of testing.",
        ],
        "titles": [
            "{Method} for {task}",
            "Accurate and calibrated {task} with {method}",
            "{Task} beyond 2D graphs: {method}",
            "Data-efficient {task} via {method}",
        ],
    },
    {
        "genre": "ml",
        "pairs": [0, 1, 2],
        "tasks": [
            "dexterous robotic manipulation",
            "legged locomotion on rough terrain",
            "sim-to-real transfer for robot control",
        ],
        "methods": [
            (
                "diffusion policies",
                "We represent the visuomotor policy as a conditional diffusion model over action sequences, trained from a few dozen teleoperated demonstrations.",
            ),
            (
                "massively parallel reinforcement learning",
                "We train control policies with proximal policy optimisation across thousands of simulated robots in parallel, using a curriculum over terrain difficulty.",
            ),
            (
                "domain randomization with adaptive priors",
                "We learn a distribution over simulator parameters that is progressively adapted so that simulated rollouts match trajectories observed on the physical robot.",
            ),
        ],
        "background": [
            "Robots that can manipulate everyday objects or traverse unstructured environments would have broad impact in logistics, homes and disaster response.",
            "{Task} requires handling contact-rich dynamics that are difficult to model analytically.",
            "Learning-based control has achieved striking results in simulation, but deploying such policies on hardware remains challenging.",
        ],
        "gaps": [
            "Policies trained in simulation often exploit modelling errors and fail on the real system.",
            "Collecting large amounts of real-world robot data is slow, costly and sometimes unsafe.",
        ],
        "settings": [
            "We evaluate on {k} real-world tasks, including cloth folding, tool use and in-hand reorientation of unseen objects.",
            "Hardware experiments were conducted on a quadruped and a seven-degree-of-freedom arm.",
        ],
        "metrics": ["task success rate", "average return", "success rate on unseen objects"],
        "findings": [
            (
                (1, 2),
                "Policies transfer to hardware zero-shot and recover from perturbations such as pushes and slips.",
            ),
            (
                (0,),
                "Success on held-out objects reaches {pct_big}, compared with less than half for behaviour cloning baselines.",
            ),
            "Training requires only {k} hours on a single workstation.",
        ],
        "implications": [
            "These results suggest that careful modelling of action distributions matters as much as the amount of data.",
            "Videos and code are publicly available.",
        ],
        "titles": [
            "{Method} for {task}",
            ((0, 1), "Learning {task} with {method}"),
            ((0,), "{Task} from few demonstrations via {method}"),
            ((1, 2), "Closing the reality gap: {method} for {task}"),
        ],
    },
    {
        "genre": "ml",
        "tasks": [
            "federated learning under heterogeneous data",
            "differentially private model training",
            "cross-silo learning on medical data",
        ],
        "methods": [
            (
                "personalised federated optimisation",
                "We propose a federated algorithm in which each client learns a low-rank personal correction on top of a shared global model, with provable convergence under non-identical data distributions.",
            ),
            (
                "private gradient compression",
                "We combine gradient sparsification with calibrated Gaussian noise so that compression itself contributes to privacy amplification.",
            ),
            (
                "secure aggregation with dropout resilience",
                "We design a secure aggregation protocol that tolerates client dropouts without additional rounds of communication.",
            ),
        ],
        "background": [
            "Many valuable datasets cannot be centralised because of privacy regulations, commercial interests or sheer size.",
            (
                (0, 2),
                "{Task} allows models to be trained on distributed data without sharing raw records.",
            ),
            "Federated and privacy-preserving learning have been deployed in mobile keyboards, healthcare consortia and finance.",
        ],
        "gaps": [
            "Heterogeneity across clients slows convergence and can make a single global model a poor fit for everyone.",
            "Strong formal privacy guarantees typically come at a steep cost in model accuracy.",
        ],
        "settings": [
            "Experiments simulate {k} to {n_small} clients with label and feature skew on image, text and tabular benchmarks.",
            "We also report results from a deployment across {k} hospitals training a sepsis prediction model.",
        ],
        "metrics": ["test accuracy", "AUROC", "accuracy at a fixed privacy budget"],
        "findings": [
            "At a privacy budget of epsilon equal to 3, our method loses less than two points of accuracy relative to non-private training.",
            "Communication costs fall by a factor of {fold} without slowing convergence.",
            "Clients with the least data benefit most from personalisation.",
        ],
        "implications": [
            "These results narrow the gap between private and non-private learning in realistic settings.",
            "We provide an open-source implementation compatible with common federated learning frameworks.",
        ],
        "titles": [
            "{Method} for {task}",
            "Practical {task} with {method}",
            "{Task}: closing the accuracy gap with {method}",
            "Communication-efficient {task} via {method}",
        ],
    },
    {
        "genre": "ml",
        "tasks": [
            "probabilistic electricity load forecasting",
            "long-horizon time series forecasting",
            "anomaly detection in industrial sensor streams",
        ],
        "methods": [
            (
                "patch-based transformers",
                "We segment each series into overlapping patches and apply a channel-independent transformer, which reduces attention cost and improves long-range extrapolation.",
            ),
            (
                "zero-shot foundation models",
                "We pretrain a decoder-only forecasting model on {n} real and synthetic series and apply it zero-shot to new domains.",
            ),
            (
                "conformal prediction intervals",
                "We wrap point forecasters with an adaptive conformal procedure that yields prediction intervals with valid coverage under distribution shift.",
            ),
        ],
        "background": [
            "Accurate forecasts underpin decisions in energy systems, supply chains, finance and public health.",
            "{Task} is complicated by seasonality at multiple scales, structural breaks and exogenous shocks.",
            "Deep learning methods have recently begun to outperform classical statistical models on large forecasting benchmarks.",
        ],
        "gaps": [
            "Reported gains are often fragile, and simple linear baselines remain surprisingly competitive.",
            "Most methods produce point forecasts without reliable uncertainty estimates, limiting their use in risk-sensitive decisions.",
        ],
        "settings": [
            "We evaluate on {k} public datasets spanning electricity, traffic, weather and retail demand.",
            "A case study uses smart-meter data from {n} households over three years.",
        ],
        "metrics": [
            ((0, 1), "forecast skill score"),
            ((0, 1), "CRPS skill score"),
            ((2,), "event-level F1"),
        ],
        "findings": [
            (
                (2,),
                "The detector flags {pct_big} of documented equipment faults at least a day before failure while raising fewer than one false alarm per week.",
            ),
            (
                (0, 1),
                "Prediction intervals achieve close to nominal coverage even during an unusually cold winter not represented in training data.",
            ),
            (
                (0, 1),
                "Zero-shot forecasts are competitive with models trained specifically on each dataset.",
            ),
            (
                (1,),
                "Errors at the longest horizons are reduced by {pct} relative to the best deep learning baseline.",
            ),
        ],
        "implications": [
            "We argue that forecasting benchmarks should routinely include strong statistical baselines and probabilistic metrics.",
            "The approach is suitable for operational use by grid operators and utilities.",
        ],
        "titles": [
            "{Method} for {task}",
            "Reliable {task} with {method}",
            "{Task} revisited: {method}",
            "Uncertainty-aware {task} using {method}",
        ],
    },
    # ------------------------------------------------------------------ biology
    {
        "genre": "bio",
        "pairs": [0, 1, 2],
        "tasks": [
            "protein structure prediction",
            "de novo protein design",
            "prediction of protein-protein interactions",
        ],
        "methods": [
            (
                "protein language models",
                "Here we train a protein language model on {mil} million sequences and show that its attention maps encode residue contacts that can be decoded into accurate three-dimensional structures.",
            ),
            (
                "diffusion-based backbone generation",
                "Here we describe a diffusion model that generates protein backbones conditioned on a target binding site, followed by sequence design and structure-based filtering.",
            ),
            (
                "coevolution-guided structural modelling",
                "Here we combine coevolutionary signals from paired multiple sequence alignments with deep learning-based structure prediction to model protein complexes at proteome scale.",
            ),
        ],
        "background": [
            "The three-dimensional structure of a protein determines its function, interactions and susceptibility to mutation.",
            (
                (0,),
                "{Task} has been transformed by deep learning, with predicted models now rivalling experimental structures for many single-chain proteins.",
            ),
            "Proteins rarely act alone, and most cellular functions depend on transient or stable complexes.",
        ],
        "gaps": [
            "Predicting structures of complexes, flexible regions and proteins with few homologues remains challenging.",
            "Designing proteins that bind arbitrary targets with high affinity has required extensive experimental screening.",
        ],
        "settings": [
            (
                (0, 2),
                "We benchmark predictions against {n_small} recently released experimental structures that were excluded from training.",
            ),
            (
                (1,),
                "Designed proteins were expressed in Escherichia coli and characterised by circular dichroism, size-exclusion chromatography and biolayer interferometry.",
            ),
        ],
        "findings": [
            (
                (0,),
                "Predicted models reach a median template modelling score of 0.{tm}, substantially above previous methods for targets lacking close homologues.",
            ),
            (
                (1,),
                "Of {n_small} designs tested experimentally, {pct} bound their target with nanomolar affinity without further optimisation.",
            ),
            (
                (1,),
                "A crystal structure of one designed binder in complex with its target closely matches the computational model.",
            ),
            (
                (2,),
                "We identify hundreds of previously uncharacterised interactions, many involving proteins of unknown function.",
            ),
        ],
        "implications": [
            "These advances make structural information accessible for almost any protein of interest and open new routes to therapeutic design.",
            "Our predictions provide testable hypotheses for the function of poorly studied proteins.",
        ],
        "titles": [
            "{Task} with {method}",
            "Accurate {task} using {method}",
            ((1, 2), "{Method} enables {task}"),
            ((0, 2), "Proteome-scale {task} via {method}"),
            ((1,), "Designing high-affinity binders by {method}"),
        ],
    },
    {
        "genre": "bio",
        "pairs": [0, 2, 1],
        "tasks": [
            "human tissue development",
            "cell type annotation across single-cell atlases",
            "the tumour microenvironment",
        ],
        "methods": [
            (
                "single-cell RNA sequencing",
                "Here we profile {n} cells from developing human tissue across multiple gestational stages using droplet-based single-cell RNA sequencing.",
            ),
            (
                "spatially resolved transcriptomics",
                "Here we apply spatially resolved transcriptomics at subcellular resolution to map gene expression across intact tissue sections.",
            ),
            (
                "deep generative models of gene expression",
                "Here we develop a variational autoencoder that integrates single-cell datasets across donors and technologies while preserving biological variation.",
            ),
        ],
        "background": [
            "Tissues are composed of diverse cell types whose states change during development, ageing and disease.",
            (
                (0, 2),
                "Single-cell profiling of {task} has revealed unexpected cellular heterogeneity.",
            ),
            "Cell atlases built from single-cell data are becoming reference resources for biology and medicine.",
        ],
        "gaps": [
            "Dissociation of tissue destroys spatial context, and batch effects complicate comparison across studies.",
            "Rare and transitional cell states are difficult to identify with standard clustering approaches.",
        ],
        "settings": [
            "Data were integrated with {k} published atlases to construct a harmonised reference.",
            "Findings were validated by multiplexed immunofluorescence and in situ hybridisation.",
        ],
        "findings": [
            (
                (0, 1),
                "We identify {k} previously undescribed cell states, including a transitional progenitor population that gives rise to two lineages.",
            ),
            (
                (2,),
                "Spatial analysis reveals that immunosuppressive macrophages cluster at the tumour boundary and are associated with exclusion of cytotoxic T cells.",
            ),
            (
                (0,),
                "Gene regulatory network inference nominates transcription factors that drive lineage commitment.",
            ),
            "Cell-cell communication analysis highlights signalling pathways that differ between healthy and diseased tissue.",
        ],
        "implications": [
            "This resource provides a framework for understanding how cellular composition shapes tissue function.",
            "Our data are available through an interactive web portal.",
        ],
        "titles": [
            ((0, 2), "{Method} reveals new cell states in {task}"),
            ((0, 2), "Mapping {task} with {method}"),
            ((0, 2), "A cellular atlas of {task}"),
            ((0, 2), "A single-cell view of {task}"),
            ((1,), "Scalable {task} with {method}"),
            ((1,), "Automated {task} using {method}"),
        ],
    },
    {
        "genre": "bio",
        "pairs": [1, 0, 2],
        "tasks": [
            "precise genome editing in human cells",
            "in vivo base editing for genetic disease",
            "pooled CRISPR screening of gene function",
        ],
        "methods": [
            (
                "engineered adenine base editors",
                "Here we engineer adenine base editors with expanded targeting range and reduced bystander editing using directed evolution in bacteria.",
            ),
            (
                "prime editing with improved guide RNAs",
                "Here we develop stabilised prime editing guide RNAs that resist degradation and increase editing efficiency across a panel of loci.",
            ),
            (
                "genome-wide CRISPR interference screens",
                "Here we perform genome-wide CRISPR interference screens coupled to single-cell readouts to link gene perturbations to transcriptional phenotypes.",
            ),
        ],
        "background": [
            "CRISPR-based technologies have made it possible to modify the genome with unprecedented ease.",
            (
                (0, 1),
                "{Task} could correct many disease-causing point mutations without introducing double-strand breaks.",
            ),
            "Systematic perturbation of genes is a powerful approach to dissect biological pathways.",
        ],
        "gaps": [
            "Editing efficiency varies widely between cell types and loci, and unintended edits remain a concern for therapeutic use.",
            "Delivery of editing machinery to relevant tissues in vivo is a major barrier to clinical translation.",
        ],
        "settings": [
            (
                (2,),
                "Screens were performed in {k_small} cell lines with at least four guide RNAs per gene.",
            ),
            (
                (0, 1),
                "Editing was assessed at {k} therapeutically relevant loci in cell lines, primary T cells and induced pluripotent stem cells.",
            ),
            (
                (1,),
                "Lipid nanoparticle delivery was tested in a mouse model of a metabolic liver disease.",
            ),
        ],
        "findings": [
            (
                (0, 1),
                "Editing efficiency increased {fold}-fold on average, with no detectable increase in off-target editing by whole-genome sequencing.",
            ),
            (
                (1,),
                "A single dose corrected the pathogenic mutation in {pct_big} of hepatocytes and normalised circulating metabolite levels.",
            ),
            (
                (2,),
                "The screens identify dozens of genes whose knockdown alters cell fate, many of which were not previously linked to this process.",
            ),
        ],
        "implications": [
            "These tools expand the range of mutations that can be corrected precisely and safely.",
            "Our results support further development of in vivo editing therapies.",
        ],
        "titles": [
            "{Method} for {task}",
            "Efficient {task} with {method}",
            "{Task} using {method}",
            "Improved {task} through {method}",
        ],
    },
    {
        "genre": "bio",
        "pairs": [0, 2, 1],
        "tasks": [
            "gut microbiome composition in early life",
            "microbial metabolism of dietary fibre",
            "the microbiome in inflammatory bowel disease",
        ],
        "methods": [
            (
                "shotgun metagenomics",
                "Here we analyse shotgun metagenomes from {n} stool samples collected longitudinally from a birth cohort.",
            ),
            (
                "gnotobiotic mouse models",
                "Here we colonise germ-free mice with defined bacterial communities to test how individual strains affect host physiology.",
            ),
            (
                "metabolomics integrated with strain-level profiling",
                "Here we combine untargeted metabolomics with strain-resolved metagenomics to link microbial genes to metabolites in the gut.",
            ),
        ],
        "background": [
            "The trillions of microbes in the human gut influence digestion, immunity and even behaviour.",
            "{Task} is shaped by diet, mode of delivery, antibiotic exposure and host genetics.",
            "Disruption of the gut microbial community has been associated with a wide range of chronic diseases.",
        ],
        "gaps": [
            "Most studies are cross-sectional and cannot distinguish cause from consequence.",
            "Functional consequences of strain-level variation remain largely unexplored.",
        ],
        "settings": [
            (
                (0,),
                "Participants were followed for {k} years, with detailed records of diet, medication and clinical outcomes.",
            ),
            (
                (0, 1),
                "We assembled {n_small} high-quality metagenome-assembled genomes, many from previously uncultured species.",
            ),
        ],
        "findings": [
            (
                (0,),
                "Early antibiotic exposure delayed the maturation of the microbiome by several months.",
            ),
            (
                (1,),
                "A single bacterial gene cluster for fibre degradation explained a large share of variation in short-chain fatty acid production.",
            ),
            (
                (2,),
                "Colonisation with a patient-derived community exacerbated colitis in mice, whereas removal of one strain abolished the effect.",
            ),
        ],
        "implications": [
            "These findings identify candidate targets for microbiome-directed interventions.",
            "Our data highlight the importance of longitudinal and strain-resolved designs in microbiome research.",
        ],
        "titles": [
            "{Task} revealed by {method}",
            "Strain-level insights into {task}",
            ((2,), "Causal roles of gut bacteria in {task}"),
            ((0,), "Antibiotics, diet and {task}"),
            ((1,), "Genetic determinants of {task}"),
        ],
    },
    {
        "genre": "bio",
        "tasks": [
            "drought tolerance in cereal crops",
            "root system architecture under water deficit",
            "stomatal regulation during heat stress",
        ],
        "methods": [
            (
                "genome-wide association mapping",
                "Here we perform genome-wide association mapping in a diversity panel of {n_small} accessions phenotyped across multiple field seasons.",
            ),
            (
                "high-throughput phenotyping",
                "Here we use automated high-throughput imaging to track growth, canopy temperature and water use of thousands of plants over time.",
            ),
            (
                "transcriptomic time courses",
                "Here we profile transcriptomes at high temporal resolution during the onset of and recovery from water deficit.",
            ),
        ],
        "background": [
            "Drought is the leading cause of yield loss in rain-fed agriculture and is becoming more frequent with climate change.",
            "{Task} involves coordinated changes in root growth, stomatal conductance and metabolism.",
            "Breeding for stress resilience requires a mechanistic understanding of traits that maintain yield under limited water.",
        ],
        "gaps": [
            "Traits measured in controlled environments often fail to predict performance in the field.",
            "The genetic architecture of drought tolerance is complex and only partly understood.",
        ],
        "settings": [
            "Field trials were conducted at {k} sites with contrasting rainfall regimes.",
            "Candidate genes were validated using mutant lines and transgenic complementation.",
        ],
        "findings": [
            "We identify a transcription factor whose natural variants alter root angle and improve water uptake from deep soil layers.",
            "Lines carrying the favourable allele yielded {pct} more grain under terminal drought without a penalty under irrigation.",
            "Stomatal closure in tolerant lines was triggered earlier and reversed faster after rewatering.",
        ],
        "implications": [
            "These results provide molecular markers for breeding climate-resilient crops.",
            "Our work illustrates the value of combining field phenotyping with molecular genetics.",
        ],
        "titles": [
            "Genetic basis of {task} revealed by {method}",
            "Dissecting {task} through {method}",
            "{Task}: insights from {method}",
            "A regulatory variant underlying {task}",
        ],
    },
    {
        "genre": "bio",
        "tasks": [
            "pollinator decline in agricultural landscapes",
            "biodiversity change in tropical forests",
            "species range shifts under climate warming",
        ],
        "methods": [
            (
                "long-term monitoring data",
                "Here we analyse {k} decades of standardised monitoring records covering {n} observations of hundreds of species.",
            ),
            (
                "environmental DNA surveys",
                "Here we use environmental DNA metabarcoding of soil and water samples to survey community composition across land-use gradients.",
            ),
            (
                "hierarchical occupancy models",
                "Here we fit hierarchical occupancy models that account for imperfect detection to opportunistic citizen-science records.",
            ),
        ],
        "background": [
            "Biodiversity underpins ecosystem services such as crop pollination, pest control and carbon storage.",
            (
                (0, 1),
                "{Task} is driven by habitat loss, pesticide use, invasive species and climate change, often acting together.",
            ),
            "Global assessments indicate accelerating losses of species and populations.",
        ],
        "gaps": [
            "Long-term data are scarce outside Europe and North America, and observation effort changes over time.",
            "The relative importance of different drivers remains contested.",
        ],
        "settings": [
            "The study spans {k} countries and a gradient from intact habitat to intensive cropland.",
            "Models include covariates for land use, temperature, precipitation and sampling effort.",
        ],
        "findings": [
            (
                (0, 1),
                "Average occupancy declined by {pct} over the study period, with the steepest declines among habitat specialists.",
            ),
            (
                (0,),
                "Sites with more semi-natural habitat within one kilometre retained substantially more species.",
            ),
            (
                (2,),
                "Species shifted their ranges poleward and upslope, but more slowly than required to track warming.",
            ),
        ],
        "implications": [
            "Our results point to landscape-scale habitat restoration as an effective conservation measure.",
            "These findings should inform targets for biodiversity frameworks and agricultural policy.",
        ],
        "titles": [
            "{Task} quantified with {method}",
            "Drivers of {task}",
            "Evidence for {task} from {method}",
            "Habitat context shapes {task}",
        ],
    },
    {
        "genre": "bio",
        "pairs": [0, 2, 1],
        "tasks": [
            "antimicrobial resistance in hospital pathogens",
            "antibiotic tolerance of bacterial biofilms",
            "antibiotic discovery against multidrug-resistant bacteria",
        ],
        "methods": [
            (
                "genomic surveillance",
                "Here we sequence {n_small} clinical isolates collected over {k} years and reconstruct transmission using phylogenetic methods.",
            ),
            (
                "deep learning-guided compound screening",
                "Here we train a neural network on growth inhibition data and screen a library of {n} compounds for new antibacterial scaffolds.",
            ),
            (
                "single-cell imaging of persisters",
                "Here we use microfluidics and time-lapse microscopy to follow individual bacterial cells through antibiotic exposure and regrowth.",
            ),
        ],
        "background": [
            "Antimicrobial resistance is a growing threat to global health, undermining the treatment of common infections.",
            (
                (0,),
                "{Task} is driven by horizontal gene transfer, selection under antibiotic use and transmission between patients.",
            ),
            "Few new classes of antibiotics have reached the clinic in recent decades.",
        ],
        "gaps": [
            "The routes by which resistant strains spread within and between hospitals are often unclear.",
            "Bacterial subpopulations that survive treatment without genetic resistance contribute to relapse but are hard to study.",
        ],
        "settings": [
            (
                (0,),
                "Isolates were obtained from {k} hospitals and linked to patient movement records.",
            ),
            (
                (2,),
                "Candidate compounds were tested against a panel of multidrug-resistant clinical strains and in a mouse infection model.",
            ),
        ],
        "findings": [
            (
                (0,),
                "A small number of plasmid lineages accounted for most carbapenem resistance, spreading across multiple species.",
            ),
            (
                (2,),
                "One structurally novel compound killed all tested pathogens and showed no resistance after {k} days of serial passage.",
            ),
            (
                (1,),
                "Persister cells exhibited reduced ATP levels and resumed growth stochastically after drug removal.",
            ),
        ],
        "implications": [
            "Our findings support genomic surveillance as a routine tool for infection control.",
            "These results identify promising leads for antibiotic development.",
        ],
        "titles": [
            ((0,), "{Method} of {task}"),
            ((0, 1), "{Task} tracked by {method}"),
            "New insights into {task} from {method}",
            ((0, 1), "{Method} uncovers drivers of {task}"),
            ((2,), "{Method} identifies structurally novel antibacterial compounds"),
            ((2,), "Expanding the antibiotic arsenal with {method}"),
        ],
    },
    # ------------------------------------------------------------------ neuroscience
    {
        "genre": "bio",
        "pairs": [2, 1, 0],
        "tasks": [
            "spatial memory in the hippocampus",
            "replay of place cell sequences during sleep",
            "grid cell coding in the entorhinal cortex",
        ],
        "methods": [
            (
                "large-scale electrophysiology",
                "Here we record from over {n_small} neurons simultaneously in freely moving rats using high-density silicon probes.",
            ),
            (
                "closed-loop optogenetics",
                "Here we use closed-loop optogenetic silencing triggered by sharp-wave ripples to disrupt replay events selectively.",
            ),
            (
                "two-photon calcium imaging in virtual reality",
                "Here we image hippocampal activity in head-fixed mice navigating virtual environments with controllable geometry.",
            ),
        ],
        "background": [
            "The hippocampus and entorhinal cortex form a cognitive map that supports navigation and episodic memory.",
            (
                (1,),
                "{Task} has been linked to consolidation of recent experiences into long-term memory.",
            ),
            "Place cells fire at specific locations, and their coordinated activity encodes trajectories through space.",
        ],
        "gaps": [
            "Whether sequential reactivation is necessary for memory, or merely correlated with it, remains debated.",
            "How maps are formed and updated when environments change is incompletely understood.",
        ],
        "settings": [
            "Animals were trained on a spatial task over {k} days, with recordings during behaviour and subsequent rest.",
            "Neural decoding was used to reconstruct the represented position on a moment-by-moment basis.",
        ],
        "findings": [
            (
                (1,),
                "Disrupting replay impaired next-day memory performance, whereas delayed stimulation had no effect.",
            ),
            (
                (0,),
                "Place fields formed abruptly on single laps, consistent with a plasticity rule operating over seconds.",
            ),
            (
                (2,),
                "Grid patterns distorted near environmental boundaries and recovered as animals explored.",
            ),
        ],
        "implications": [
            "These results provide causal evidence linking offline reactivation to memory consolidation.",
            "Our findings constrain computational models of spatial learning.",
        ],
        "titles": [
            "{Task} revealed by {method}",
            "{Method} links neural sequences to {task}",
            "Dynamics of {task}",
            "Causal tests of {task} using {method}",
        ],
    },
    {
        "genre": "bio",
        "tasks": [
            "functional connectivity in major depressive disorder",
            "brain network development in adolescence",
            "individual differences in large-scale brain networks",
        ],
        "methods": [
            (
                "resting-state functional MRI",
                "Here we analyse resting-state functional MRI data from {n} participants across {k} imaging sites.",
            ),
            (
                "precision functional mapping",
                "Here we collect many hours of functional MRI data from each of a small number of individuals to map their brain networks in detail.",
            ),
            (
                "normative modelling",
                "Here we build normative models of brain network organisation across the lifespan and quantify individual deviations from the population norm.",
            ),
        ],
        "background": [
            "Psychiatric disorders are increasingly conceptualised as disorders of brain networks.",
            "Research on {task} using neuroimaging has been extensive, but findings have been inconsistent.",
            "Large consortia now make it possible to study brain-behaviour relationships in thousands of individuals.",
        ],
        "gaps": [
            "Small samples and analytic flexibility have produced many effects that fail to replicate.",
            "Group averages can obscure substantial individual variation in network topography.",
        ],
        "settings": [
            "Analyses were preregistered and replicated in an independent cohort.",
            "Head motion and scanner effects were controlled using harmonisation and stringent quality criteria.",
        ],
        "findings": [
            "Brain-wide associations with symptoms were small, with the largest correlations below 0.{small_r}.",
            "Individual-specific network maps predicted task activations better than group templates.",
            "Deviations from normative trajectories were heterogeneous, with few patients sharing the same pattern.",
        ],
        "implications": [
            "These results highlight the need for large samples and individual-level approaches in psychiatric neuroimaging.",
            "We discuss implications for biomarker development.",
        ],
        "titles": [
            "{Task}: evidence from {method}",
            "{Method} of {task}",
            "Reproducible mapping of {task}",
            "Rethinking {task} with {method}",
        ],
    },
    {
        "genre": "bio",
        "pairs": [0, 2, 1],
        "tasks": [
            "alpha-synuclein aggregation in Parkinson's disease",
            "tau propagation in Alzheimer's disease",
            "the structural diversity of protein filaments in neurodegeneration",
        ],
        "methods": [
            (
                "patient-derived neurons",
                "Here we differentiate induced pluripotent stem cells from patients and controls into dopaminergic and cortical neurons.",
            ),
            (
                "cryo-electron microscopy",
                "Here we determine cryo-electron microscopy structures of protein filaments extracted from post-mortem brain tissue.",
            ),
            (
                "longitudinal biomarker cohorts",
                "Here we follow {n} participants with repeated PET imaging and fluid biomarker measurements over {k} years.",
            ),
        ],
        "background": [
            "Neurodegenerative diseases are characterised by the accumulation of misfolded proteins and progressive neuronal loss.",
            (
                (0, 1),
                "{Task} appears to follow stereotyped anatomical patterns, suggesting cell-to-cell spread.",
            ),
            "Genetic studies have implicated lysosomal function and innate immunity in disease risk.",
        ],
        "gaps": [
            "The mechanisms linking protein aggregation to neuronal death remain unclear.",
            "Therapies that reduce aggregates have so far produced modest clinical benefit.",
        ],
        "settings": [
            (
                (0, 2),
                "Findings were confirmed in {k} independent patient lines and in post-mortem tissue.",
            ),
            ((1,), "Cognitive outcomes were assessed annually with standardised test batteries."),
        ],
        "findings": [
            (
                (2,),
                "Filaments from different diseases adopted distinct folds, indicating disease-specific conformational strains.",
            ),
            (
                (1,),
                "Baseline tau PET signal predicted subsequent cognitive decline better than amyloid status alone.",
            ),
            (
                (0,),
                "Lysosomal dysfunction preceded aggregate formation in patient-derived neurons.",
            ),
        ],
        "implications": [
            "These findings suggest that therapeutic strategies may need to be tailored to specific protein conformations.",
            "Our results support early intervention before widespread aggregate formation.",
        ],
        "titles": [
            "New insights into {task} from {method}",
            "Mechanisms of {task}",
            "{Task}: insights from {method}",
            ((0, 1), "Structural and cellular basis of {task}"),
        ],
    },
    # ------------------------------------------------------------------ medicine
    {
        "genre": "clinical",
        "pairs": [0, 1, 2],
        "tasks": [
            "anticoagulation in atrial fibrillation",
            "early rhythm control in atrial fibrillation",
            "screening for undiagnosed atrial fibrillation",
        ],
        "methods": [
            (
                "a nationwide cohort study",
                "We conducted a nationwide cohort study using linked registry data on {n} patients with newly diagnosed atrial fibrillation between {y0} and {y1}.",
            ),
            (
                "a pragmatic randomised trial",
                "In this pragmatic randomised trial, {n_trial} adults aged 70 years or older were assigned to the intervention or usual care.",
            ),
            (
                "a wearable electrocardiogram patch study",
                "We enrolled {n_trial} participants who wore a single-lead electrocardiogram patch for up to 14 days.",
            ),
        ],
        "background": [
            "Atrial fibrillation is the most common sustained cardiac arrhythmia and a major cause of ischaemic stroke.",
            "The optimal approach to {task} in older patients with multiple comorbidities remains uncertain.",
        ],
        "gaps": [
            "Randomised evidence in frail and very elderly patients is limited.",
            "Many episodes of atrial fibrillation are asymptomatic and go undetected until a stroke occurs.",
        ],
        "settings": [
            "The primary outcome was a composite of stroke, systemic embolism and cardiovascular death; major bleeding was the main safety outcome.",
            "Outcomes were ascertained from hospital records and adjudicated by a blinded committee.",
        ],
        "findings": [
            (
                (0, 1),
                "The intervention reduced the primary outcome (hazard ratio {hr}; 95% CI {ci}).",
            ),
            ((0, 1), "Major bleeding did not differ significantly between groups."),
            (
                (2,),
                "New atrial fibrillation was detected in {pct_small} of participants, most of whom subsequently started anticoagulation.",
            ),
        ],
        "implications": [
            "These findings support a more proactive approach to {task} in routine care.",
            (
                (2,),
                "Further trials are needed to determine whether screening reduces stroke at the population level.",
            ),
        ],
        "titles": [
            "{Task}: {method}",
            "Outcomes of {task} in older adults",
            "{Task} and risk of stroke: {method}",
            "Effectiveness and safety of {task}",
        ],
    },
    {
        "genre": "clinical",
        "pairs": [0, 1, 2],
        "tasks": [
            "immune checkpoint inhibition in non-small-cell lung cancer",
            "neoadjuvant immunotherapy for melanoma",
            "predictors of response to cancer immunotherapy",
        ],
        "methods": [
            (
                "a phase 3 randomised trial",
                "In this open-label phase 3 trial, {n_trial} patients with previously untreated advanced disease were randomly assigned to immunotherapy plus chemotherapy or chemotherapy alone.",
            ),
            (
                "a multicentre phase 2 trial",
                "In this multicentre phase 2 trial, {n_trial} patients with resectable stage III disease received {k_small} cycles of treatment before surgery.",
            ),
            (
                "a biomarker analysis of pooled trials",
                "We pooled tumour sequencing and outcome data from {n_trial} patients enrolled in {k} clinical trials.",
            ),
        ],
        "background": [
            "Immune checkpoint inhibitors have transformed the treatment of several advanced cancers, yet most patients do not achieve durable responses.",
            ((0, 1), "{Task} is an area of intense clinical investigation."),
        ],
        "gaps": [
            "Reliable biomarkers to identify patients likely to benefit are lacking.",
            "The benefit of treatment before surgery, as opposed to after it, has not been established.",
        ],
        "settings": [
            (
                (0,),
                "The primary end point was overall survival; secondary end points included progression-free survival and safety.",
            ),
            (
                (1,),
                "Pathological response was assessed centrally by pathologists unaware of treatment assignment.",
            ),
        ],
        "findings": [
            (
                (0,),
                "Overall survival was longer with the combination (hazard ratio for death {hr}; 95% CI {ci}).",
            ),
            (
                (1,),
                "A major pathological response occurred in {pct_big} of patients, and no patient with a major response had relapsed at the time of analysis.",
            ),
            (
                (0, 1),
                "Grade 3 or higher treatment-related adverse events occurred in {pct_small} of patients.",
            ),
            (
                (2,),
                "High tumour mutational burden and an inflamed gene-expression signature were independently associated with response.",
            ),
        ],
        "implications": [
            ((0, 1), "These results support {task} as a standard option for eligible patients."),
            "Longer follow-up is needed to confirm durability of benefit.",
        ],
        "titles": [
            ((0, 1), "{Task}: results of {method}"),
            ((0, 1), "{Task}"),
            ((0, 1), "Survival outcomes with {task}"),
            ((0, 1), "Biomarkers of benefit in {task}"),
            ((2,), "Genomic and transcriptomic {task}"),
            ((2,), "{Task}: {method}"),
        ],
    },
    {
        "genre": "clinical",
        "pairs": [0, 2, 1],
        "tasks": [
            "influenza vaccine effectiveness",
            "respiratory syncytial virus vaccination in older adults",
            "transmission of respiratory viruses in households",
        ],
        "methods": [
            (
                "a test-negative case-control study",
                "We used a test-negative design among {n} adults presenting with acute respiratory illness to outpatient clinics and hospitals.",
            ),
            (
                "a household transmission study",
                "We enrolled {n_trial} households in which an index case had laboratory-confirmed infection and followed all members with daily symptom diaries and swabs.",
            ),
            (
                "a placebo-controlled efficacy trial",
                "In this randomised, observer-blinded trial, {n_trial} participants aged 60 years or older received a single dose of vaccine or placebo.",
            ),
        ],
        "background": [
            "Respiratory viruses cause substantial seasonal morbidity and mortality, particularly among older adults.",
            (
                (0,),
                "Estimates of {task} inform vaccine composition, recommendations and public health planning.",
            ),
            (
                (1,),
                "Respiratory syncytial virus causes a substantial burden of hospitalisation in older adults, for whom preventive options have long been limited.",
            ),
            (
                (2,),
                "Households are a key setting for the spread of respiratory viruses, yet the relative contributions of children and adults remain unclear.",
            ),
        ],
        "gaps": [
            "Protection may wane within a season, and effectiveness varies across subtypes and age groups.",
            "The contribution of asymptomatic infection to onward transmission remains uncertain.",
        ],
        "settings": [
            (
                (0,),
                "Data were collected over {k_small} consecutive seasons at sentinel sites in {k} countries.",
            ),
            "Laboratory confirmation used multiplex reverse-transcription PCR.",
        ],
        "findings": [
            (
                (0,),
                "Vaccine effectiveness against hospitalisation was {pct_big}, declining to {pct} more than three months after vaccination.",
            ),
            (
                (2,),
                "The secondary attack rate among household contacts was {pct_small}, highest when the index case was a young child.",
            ),
            (
                (1,),
                "Efficacy against lower respiratory tract disease was {pct_big} over the first season.",
            ),
        ],
        "implications": [
            (
                (0, 1),
                "These findings support annual vaccination and suggest that timing of vaccination may matter.",
            ),
            (
                (2,),
                "Targeted interventions in households with young children could reduce transmission.",
            ),
        ],
        "titles": [
            ((0, 1), "{Task}: {method}"),
            ((0,), "Estimating {task} across {k_small} seasons"),
            ((0,), "Waning of protection and {task}"),
            ((1,), "Efficacy of {task}"),
            ((2,), "The role of young children in {task}"),
            ((2,), "{Task}: secondary attack rates and risk factors"),
        ],
    },
    # ------------------------------------------------------------------ physics
    {
        "genre": "physics",
        "pairs": [0, 1, 2],
        "tasks": [
            "quantum error correction with surface codes",
            "fault-tolerant logical qubits",
            "noise characterisation of superconducting processors",
        ],
        "methods": [
            (
                "real-time decoding",
                "We implement a real-time decoder on dedicated classical hardware that processes syndrome data faster than it is generated.",
            ),
            (
                "bosonic cat qubits",
                "We encode logical information in cat states of a superconducting microwave resonator whose bit-flip errors are exponentially suppressed.",
            ),
            (
                "scalable randomized benchmarking",
                "We introduce a benchmarking protocol that characterises correlated errors across many qubits with a number of measurements that grows only polynomially.",
            ),
        ],
        "background": [
            "Quantum computers promise exponential speedups for certain problems, but physical qubits are too noisy for long computations.",
            (
                (0,),
                "{Task} aims to protect quantum information by encoding it redundantly across many physical qubits.",
            ),
        ],
        "gaps": [
            "Below-threshold operation requires physical error rates, readout and decoding to work together at scale.",
            "Correlated errors such as those caused by cosmic rays or leakage can undermine standard error-correction assumptions.",
        ],
        "settings": [
            "Experiments are performed on a {qubits}-qubit superconducting processor.",
            (
                (0, 1),
                "We compare code distances three, five and seven under identical operating conditions.",
            ),
        ],
        "findings": [
            (
                (0, 1),
                "The logical error rate decreases by a factor of {fold} each time the code distance increases by two.",
            ),
            (
                (0, 1),
                "The logical qubit outlives its best physical constituent by more than a factor of two.",
            ),
            (
                (0, 2),
                "We observe rare bursts of correlated errors consistent with high-energy impact events.",
            ),
        ],
        "implications": [
            "These results demonstrate the key ingredients of scalable fault-tolerant quantum computation.",
            "Our protocol provides a practical tool for diagnosing error mechanisms in large devices.",
        ],
        "titles": [
            "{Task} using {method}",
            ((0, 1), "Demonstrating {task} via {method}"),
            "{Method} for {task}",
            ((0, 1), "Scaling {task} below threshold"),
            ((2,), "Efficient {task} with {method}"),
        ],
    },
    {
        "genre": "physics",
        "tasks": [
            "unconventional superconductivity in twisted bilayer graphene",
            "topological phases in kagome metals",
            "strange metal behaviour in correlated electron systems",
        ],
        "methods": [
            (
                "scanning tunnelling spectroscopy",
                "Using scanning tunnelling spectroscopy at temperatures down to 300 millikelvin, we map the local density of states with atomic resolution.",
            ),
            (
                "angle-resolved photoemission",
                "Using high-resolution angle-resolved photoemission spectroscopy, we resolve the electronic band structure and its evolution with temperature.",
            ),
            (
                "magnetotransport measurements",
                "We perform magnetotransport measurements in fields up to {field} tesla on devices with tunable carrier density.",
            ),
        ],
        "background": [
            "Materials with strong electronic correlations host a rich variety of quantum phases, including superconductivity and magnetism.",
            (
                (0,),
                "Twisted bilayer graphene has emerged as a versatile platform for studying the interplay of topology and interactions.",
            ),
            (
                (1,),
                "Kagome metals, whose lattice geometry produces flat bands and Dirac points, host an unusual combination of topology and correlations.",
            ),
            (
                (2,),
                "Many correlated metals show a resistivity that grows linearly with temperature, in stark contrast to conventional Fermi liquids.",
            ),
        ],
        "gaps": [
            (
                (0,),
                "The pairing mechanism and symmetry of the superconducting state remain debated.",
            ),
            "Disentangling competing orders requires probes that are sensitive to both local and momentum-resolved structure.",
        ],
        "settings": [
            "Measurements are compared with Hartree-Fock and dynamical mean-field calculations.",
            (
                (0,),
                "Samples of varying twist angle and doping were studied to establish systematic trends.",
            ),
        ],
        "findings": [
            (
                (0,),
                "We observe a pseudogap that persists well above the superconducting transition temperature.",
            ),
            (
                (2,),
                "The resistivity is linear in temperature over more than a decade, with a slope close to the Planckian bound.",
            ),
            (
                (1,),
                "Charge density wave order breaks rotational symmetry and coexists with superconductivity.",
            ),
        ],
        "implications": [
            (
                (0,),
                "These observations point to an unconventional pairing mechanism mediated by electronic correlations.",
            ),
            "Our results provide constraints for theoretical models of correlated quantum matter.",
        ],
        "titles": [
            "{Task} probed by {method}",
            "Evidence for {task}",
            "{Method} of {task}",
            "Competing orders and {task}",
        ],
    },
    {
        "genre": "physics",
        "pairs": [1, 2, 0],
        "tasks": [
            "searches for new physics at the Large Hadron Collider",
            "precision measurement of the Higgs boson couplings",
            "jet substructure classification",
        ],
        "methods": [
            (
                "graph neural network jet tagging",
                "We develop a jet tagger based on graph neural networks that treats jet constituents as a point cloud.",
            ),
            (
                "final states with leptons and missing transverse momentum",
                "We present a search using {lumi} inverse femtobarns of proton-proton collision data at a centre-of-mass energy of 13 TeV.",
            ),
            (
                "simulation-based inference",
                "We use neural simulation-based inference to extract coupling parameters from the full kinematic information of each event.",
            ),
        ],
        "background": [
            "The Standard Model describes known particles with remarkable precision, yet it leaves dark matter and the matter-antimatter asymmetry unexplained.",
            (
                (1,),
                "{Task} tests the Standard Model at the highest energies accessible in the laboratory.",
            ),
            (
                (0, 2),
                "Proton-proton collisions at the Large Hadron Collider probe the Standard Model at the highest energies accessible in the laboratory.",
            ),
        ],
        "gaps": [
            "Traditional analyses use a handful of summary observables and discard information present in the full events.",
            "Systematic uncertainties from detector modelling limit the sensitivity of many measurements.",
        ],
        "settings": [
            "Data were recorded by a general-purpose detector during Run 2 of the Large Hadron Collider.",
            "The analysis is validated in control regions enriched in background processes.",
        ],
        "findings": [
            (
                (1,),
                "The measured couplings agree with Standard Model predictions, with uncertainties {pct} smaller than in a conventional analysis.",
            ),
            ((0,), "No significant excess over the Standard Model expectation is observed."),
            (
                (0,),
                "Upper limits are set on production cross-sections, excluding particle masses up to {mass} GeV.",
            ),
            (
                (2,),
                "Background rejection improves by a factor of {fold} at fixed signal efficiency.",
            ),
        ],
        "implications": [
            "The results are the most stringent to date in this channel.",
            "The methods are directly applicable to the high-luminosity phase of the collider.",
        ],
        "titles": [
            "{Task} using {method}",
            ((1, 2), "{Method} for {task}"),
            "Improved sensitivity in {task}",
            "{Task} with the full Run 2 dataset",
        ],
    },
    {
        "genre": "physics",
        "tasks": [
            "wall-bounded turbulence at high Reynolds numbers",
            "turbulent mixing in stratified flows",
            "drag reduction in turbulent pipe flow",
        ],
        "methods": [
            (
                "direct numerical simulation",
                "We perform direct numerical simulations on grids of up to {bil} billion points.",
            ),
            (
                "particle image velocimetry",
                "We measure velocity fields with time-resolved tomographic particle image velocimetry in a large water channel.",
            ),
            (
                "physics-informed machine learning",
                "We train neural closure models constrained by conservation laws to predict subgrid-scale stresses in large-eddy simulation.",
            ),
        ],
        "background": [
            "Turbulence governs momentum, heat and mass transfer in engineering and geophysical flows.",
            ((0,), "{Task} remains one of the central unsolved problems of classical physics."),
        ],
        "gaps": [
            "Resolving all relevant scales at realistic Reynolds numbers is computationally prohibitive.",
            "Subgrid models calibrated in simple flows often fail in complex geometries.",
        ],
        "settings": [
            "Friction Reynolds numbers up to {re} are considered.",
            "Results are compared with laboratory measurements and existing simulation databases.",
        ],
        "findings": [
            (
                (2,),
                "Spanwise wall oscillation reduced skin-friction drag by {pct}, although the benefit diminished at the highest Reynolds numbers.",
            ),
            (
                (0,),
                "Large-scale motions in the logarithmic layer carry an increasing share of turbulent kinetic energy as Reynolds number increases.",
            ),
            "The learned closure reduces errors in mean velocity by {pct} in flows not seen during training.",
            ((1,), "Mixing efficiency peaks at intermediate stratification strength."),
        ],
        "implications": [
            "These results inform the design of flow control strategies and subgrid models.",
            "The datasets are released to the community.",
        ],
        "titles": [
            "{Task}: insights from {method}",
            "{Method} of {task}",
            "Scaling laws for {task}",
            ((0, 1), "Coherent structures in {task}"),
        ],
    },
    # ------------------------------------------------------------------ astronomy
    {
        "genre": "astro",
        "tasks": [
            "exoplanet atmospheres",
            "hot Jupiter atmospheres",
            "the atmospheres of temperate rocky planets",
        ],
        "methods": [
            (
                "JWST transmission spectroscopy",
                "We present a transmission spectrum obtained with the James Webb Space Telescope covering 0.6 to 5 micrometres.",
            ),
            (
                "high-resolution ground-based spectroscopy",
                "We observe {k_small} transits with a high-resolution near-infrared spectrograph and detect molecular species through cross-correlation.",
            ),
            (
                "three-dimensional atmospheric retrievals",
                "We interpret the observations with atmospheric retrievals informed by three-dimensional general circulation models.",
            ),
        ],
        "background": [
            "The atmospheres of exoplanets encode information about their formation, chemistry and climate.",
            "The study of {task} has entered a new era with the launch of large space-based infrared observatories.",
        ],
        "gaps": [
            "Clouds and hazes can mute spectral features and lead to degenerate interpretations.",
            "Stellar contamination from starspots complicates the analysis of planets orbiting active M dwarfs.",
        ],
        "settings": [
            "The target orbits {stype} star at a distance of {dist} parsecs.",
            "Instrumental systematics are modelled with Gaussian processes and validated through injection-recovery tests.",
        ],
        "findings": [
            (
                (0, 1),
                "We detect water, carbon dioxide and sulfur dioxide, the latter at {sigma} sigma significance.",
            ),
            (
                (0, 1),
                "The inferred metallicity is roughly {fold} times solar, consistent with core accretion formation.",
            ),
            ((2,), "A flat spectrum rules out a cloud-free hydrogen-dominated atmosphere."),
        ],
        "implications": [
            "These results demonstrate the power of infrared spectroscopy for comparative planetology.",
            "Future observations will test for temporal variability and nightside emission.",
        ],
        "titles": [
            "{Task} revealed by {method}",
            "Chemical inventory of {task}",
            "Constraints on {task} from {method}",
            ((0, 1), "Water, carbon dioxide and clouds in {task}"),
        ],
    },
    {
        "genre": "astro",
        "pairs": [0, 1, 2],
        "tasks": [
            "galaxy rotation curves and dark matter halos",
            "the distribution of dark matter in dwarf galaxies",
            "weak gravitational lensing of galaxy clusters",
        ],
        "methods": [
            (
                "resolved HI kinematics",
                "We derive rotation curves from resolved 21-centimetre observations of {n_small} nearby disk galaxies.",
            ),
            (
                "cosmological hydrodynamical simulations",
                "We compare observations with cosmological hydrodynamical simulations that include supernova feedback.",
            ),
            (
                "stacked lensing profiles",
                "We measure stacked weak-lensing shear profiles for {n_small} clusters selected from a wide-field imaging survey.",
            ),
        ],
        "background": [
            "Flat rotation curves in the outskirts of spiral galaxies are among the earliest lines of evidence for dark matter.",
            ((1,), "{Task} provides a key test of the cold dark matter paradigm on small scales."),
            (
                (0,),
                "Rotation curves of disk galaxies provide a key test of the cold dark matter paradigm on galactic scales.",
            ),
        ],
        "gaps": [
            "Observed inner density profiles are often shallower than predicted by dark-matter-only simulations.",
            "Baryonic feedback and observational systematics are difficult to disentangle.",
        ],
        "settings": [
            (
                (0, 1),
                "Stellar masses are estimated from near-infrared photometry with a fixed mass-to-light ratio.",
            ),
            (
                (0, 1),
                "Halo models include both cuspy and cored profiles and a modified-dynamics alternative.",
            ),
        ],
        "findings": [
            ((0, 1), "Cored profiles are preferred in most low-mass galaxies."),
            (
                (0,),
                "The radial acceleration relation shows small intrinsic scatter across five decades in mass.",
            ),
            (
                (2,),
                "Halo concentrations agree with predictions for cold dark matter within the uncertainties.",
            ),
        ],
        "implications": [
            "Our results suggest that feedback can reconcile cold dark matter with observed galaxy kinematics.",
            "Upcoming surveys will reduce the statistical errors by an order of magnitude.",
        ],
        "titles": [
            ((0, 1), "{Task} from {method}"),
            "Testing cold dark matter with {task}",
            "Revisiting {task}",
            ((2,), "Halo masses and concentrations from {method}"),
        ],
    },
    {
        "genre": "astro",
        "pairs": [0, 2, 1],
        "tasks": [
            "the population of merging binary black holes",
            "neutron star mergers and their electromagnetic counterparts",
            "the stochastic gravitational-wave background",
        ],
        "methods": [
            (
                "hierarchical Bayesian inference",
                "We perform hierarchical Bayesian population inference on {n_small} confidently detected compact binary mergers.",
            ),
            (
                "pulsar timing arrays",
                "We analyse {k} years of timing data from {k2} millisecond pulsars.",
            ),
            (
                "multi-messenger follow-up",
                "We coordinate optical, infrared and X-ray follow-up of gravitational-wave alerts with well-localised sky positions.",
            ),
        ],
        "background": [
            "Gravitational-wave observations have opened a new window on the most extreme objects in the universe.",
            "The study of {task} offers insight into stellar evolution, dense matter and cosmology.",
        ],
        "gaps": [
            "The formation channels of merging compact binaries remain uncertain.",
            "Distinguishing astrophysical signals from instrumental noise requires careful modelling.",
        ],
        "settings": [
            ((0, 1), "Selection effects are accounted for using injection campaigns."),
            ((2,), "Noise models include intrinsic red noise and chromatic dispersion effects."),
        ],
        "findings": [
            (
                (1,),
                "An optical and infrared counterpart was identified for one event, and its rapidly reddening spectrum indicates the production of heavy elements.",
            ),
            (
                (0,),
                "The mass distribution shows a peak near 35 solar masses and a deficit above 60.",
            ),
            (
                (2,),
                "We find evidence for a common-spectrum process with correlations consistent with a gravitational-wave background at {sigma} sigma.",
            ),
            (
                (0,),
                "The inferred spins suggest a contribution from dynamical formation in dense star clusters.",
            ),
        ],
        "implications": [
            "These results constrain models of binary evolution and the population of supermassive black hole binaries.",
            "Future observing runs will sharpen these constraints.",
        ],
        "titles": [
            "{Task}: {method}",
            "Constraints on {task} from {method}",
            ((1,), "{Method} of {task}"),
            "Probing {task}",
        ],
    },
    # ------------------------------------------------------------------ earth and climate
    {
        "genre": "earth",
        "tasks": [
            "extreme heatwaves",
            "compound drought and heat extremes",
            "extreme precipitation",
        ],
        "methods": [
            (
                "probabilistic event attribution",
                "We estimate how anthropogenic warming has changed the likelihood and intensity of the event using large ensembles of climate model simulations and observational records.",
            ),
            (
                "convection-permitting simulations",
                "We run convection-permitting regional climate simulations at {km} kilometre resolution for present-day and future climates.",
            ),
            (
                "reanalysis-based trend analysis",
                "We analyse trends in daily temperature and precipitation from reanalysis and station data over {y0} to {y1}.",
            ),
        ],
        "background": [
            "Extreme weather events cause large losses of life and property and are expected to intensify with global warming.",
            "Understanding how climate change affects {task} helps communities and policymakers assess current risks.",
        ],
        "gaps": [
            "Climate models may underestimate the most extreme events in some regions.",
            "Changes in extremes can be dominated by dynamical factors whose response to warming is uncertain.",
        ],
        "settings": [
            "The analysis focuses on {region}.",
            "Multiple models and observational datasets are combined to assess robustness.",
        ],
        "findings": [
            (
                (0,),
                "An event of this magnitude would have been virtually impossible without human-induced warming.",
            ),
            (
                (2,),
                "Hourly rainfall extremes intensify by about {pct_small} per degree of warming, exceeding the Clausius-Clapeyron rate.",
            ),
            (
                (1,),
                "The frequency of concurrent drought and heat has increased roughly {fold}-fold since the mid-twentieth century.",
            ),
        ],
        "implications": [
            "These findings underline the need for adaptation measures such as heat-health warning systems.",
            "Infrastructure design standards based on historical climate may be inadequate.",
        ],
        "titles": [
            "{Task} in {region}",
            "{Method} of {task}",
            "Human influence on {task}",
            ((0, 1), "Rapid attribution of {task} to climate change"),
            "Rising risk of {task} in {region}",
        ],
    },
    {
        "genre": "earth",
        "pairs": [0, 1, 2],
        "tasks": [
            "Arctic sea ice decline",
            "ocean heat uptake and sea-level rise",
            "Antarctic ice shelf melting",
        ],
        "methods": [
            (
                "satellite altimetry",
                "We combine satellite altimetry and gravimetry over {y0} to {y1} to estimate changes in ice thickness and mass.",
            ),
            (
                "autonomous float observations",
                "We use profiles from autonomous floats to reconstruct ocean temperature down to 2000 metres.",
            ),
            (
                "coupled ice-ocean modelling",
                "We run a coupled ice sheet-ocean model to simulate the response of ice shelves to warm water intrusion.",
            ),
        ],
        "background": [
            "The cryosphere and oceans are key components of the climate system and are changing rapidly.",
            (
                (0, 2),
                "{Task} has major consequences for ecosystems, coastal communities and global climate.",
            ),
        ],
        "gaps": [
            "Observational records are short and sparse, especially beneath sea ice and ice shelves.",
            (
                (0,),
                "Models disagree on the timing of tipping points such as an ice-free summer Arctic.",
            ),
        ],
        "settings": [
            "Uncertainties are quantified with an ensemble of observational products.",
            "Model simulations are forced by several emission scenarios.",
        ],
        "findings": [
            ((0, 2), "Ice thickness has declined by {pct} since the start of the record."),
            (
                (1,),
                "Ocean heat content has increased at an accelerating rate, with the largest changes in the Southern Ocean.",
            ),
            (
                (2,),
                "Basal melting is concentrated near grounding lines, where warm water reaches the ice.",
            ),
        ],
        "implications": [
            (
                (0,),
                "These findings suggest that ice-free Arctic summers could occur before mid-century.",
            ),
            (
                (2,),
                "Improved observations beneath ice shelves are needed to constrain projections of sea-level rise.",
            ),
        ],
        "titles": [
            "{Task} from {method}",
            "Accelerating {task}",
            "{Task} constrained by {method}",
            "Drivers of {task}",
        ],
    },
    {
        "genre": "geo",
        "tasks": [
            "earthquake nucleation and foreshock sequences",
            "slow slip events in subduction zones",
            "induced seismicity from fluid injection",
        ],
        "methods": [
            (
                "machine-learning earthquake catalogues",
                "We build a high-resolution earthquake catalogue using deep learning phase pickers, detecting {fold} times more events than standard catalogues.",
            ),
            (
                "geodetic observations",
                "We analyse continuous GPS and InSAR time series to resolve transient deformation.",
            ),
            (
                "laboratory friction experiments",
                "We conduct laboratory friction experiments on rock samples under realistic temperature and pressure conditions.",
            ),
        ],
        "background": [
            "Earthquakes result from the sudden release of elastic strain on faults, yet their initiation remains poorly understood.",
            "{Task} may provide clues to fault mechanics and seismic hazard.",
        ],
        "gaps": [
            "Whether large earthquakes are preceded by detectable precursory processes is debated.",
            "Existing catalogues miss many small events, obscuring the spatiotemporal evolution of seismicity.",
        ],
        "settings": [
            "The study focuses on {seis_region}.",
            "Results are interpreted using rate-and-state friction models.",
        ],
        "findings": [
            (
                (0,),
                "Foreshocks migrated toward the mainshock hypocentre in the final weeks before the rupture.",
            ),
            (
                (1,),
                "Slow slip events recur every {k} to {k2} months and are accompanied by tectonic tremor.",
            ),
            (
                (2,),
                "Seismicity rates correlate with injection volumes, with a delay of several months.",
            ),
        ],
        "implications": [
            "These results inform probabilistic seismic hazard assessment.",
            "Our catalogue is made publicly available.",
        ],
        "titles": [
            "{Task} revealed by {method}",
            "Insights into {task} from {method}",
            "Spatiotemporal evolution of {task}",
            "Mechanics of {task}",
        ],
    },
    # ------------------------------------------------------------------ economics
    {
        "genre": "econ",
        "pairs": [0, 2, 1],
        "tasks": [
            "minimum wage increases and employment",
            "labour market effects of remote work",
            "wage inequality and firm productivity",
        ],
        "methods": [
            (
                "a difference-in-differences design",
                "We exploit staggered state-level policy changes between {y0} and {y1} in a difference-in-differences design robust to heterogeneous treatment effects.",
            ),
            (
                "linked employer-employee data",
                "We use linked employer-employee administrative data covering {n} workers.",
            ),
            (
                "online job postings",
                "We analyse {n} online job postings to measure changes in demand for skills and work arrangements.",
            ),
        ],
        "background": [
            "The effects of labour market policies on employment and wages are central questions in economics.",
            "Research on {task} has generated a large and contested empirical literature.",
        ],
        "gaps": [
            "Earlier studies often relied on comparisons that are sensitive to differential trends.",
            "Aggregate data mask heterogeneity across workers, firms and regions.",
        ],
        "settings": [
            "We complement the main analysis with an event-study specification and placebo tests.",
            "Heterogeneity is examined by age, education, industry and firm size.",
        ],
        "findings": [
            (
                (0,),
                "We find that earnings of low-wage workers rise substantially with little evidence of job loss.",
            ),
            (
                (1,),
                "The share of postings allowing remote work roughly tripled and remained elevated.",
            ),
            (
                (2,),
                "Between-firm differences account for about {pct_big} of the rise in wage inequality.",
            ),
        ],
        "implications": [
            "These findings inform debates about labour market regulation.",
            "We discuss implications for productivity and urban economies.",
        ],
        "titles": [
            "{Task}: evidence from {method}",
            "{Task}",
            "New evidence on {task}",
            "Revisiting {task} with {method}",
        ],
    },
    {
        "genre": "econ",
        "tasks": [
            "monetary policy transmission",
            "household inflation expectations",
            "the market impact of central bank communication",
        ],
        "methods": [
            (
                "high-frequency identification",
                "We identify monetary policy shocks from high-frequency movements in interest rate futures around central bank announcements.",
            ),
            (
                "randomised information experiments",
                "We run randomised information-provision experiments embedded in a survey of {n} households.",
            ),
            (
                "text analysis of policy statements",
                "We apply natural language processing to measure the tone and uncertainty of central bank statements between {y0} and {y1}.",
            ),
        ],
        "background": [
            "Understanding how monetary policy affects the economy is essential for stabilisation policy.",
            "The study of {task} has received renewed attention after the recent surge in inflation.",
        ],
        "gaps": [
            "Households are often poorly informed about policy, which may weaken transmission through expectations.",
            "Identifying causal effects is complicated by the endogeneity of policy decisions.",
        ],
        "settings": [
            "The analysis covers {k} advanced economies.",
            "Effects are traced using local projections over a horizon of several years.",
        ],
        "findings": [
            (
                (1,),
                "Households that received information about the inflation target revised their expectations substantially toward it.",
            ),
            ((0,), "A surprise tightening reduces output and prices with a lag of about a year."),
            (
                (2,),
                "More hawkish tone is associated with higher long-term yields even after controlling for the policy rate.",
            ),
        ],
        "implications": [
            (
                (1, 2),
                "These findings suggest that communication is an active instrument of monetary policy.",
            ),
            "Our results have implications for the design of inflation-targeting frameworks.",
        ],
        "titles": [
            "{Task}: evidence from {method}",
            "What drives {task}?",
            "{Task} in a high-inflation environment",
            "Rethinking {task}",
        ],
    },
    {
        "genre": "econ",
        "pairs": [[0, 2], [0, 2], [1]],
        "tasks": [
            "unconditional cash transfers in low-income countries",
            "microfinance for small businesses",
            "mobile money",
        ],
        "methods": [
            (
                "a large-scale randomised controlled trial",
                "We conduct a randomised controlled trial across {n_small} villages in which eligible households received transfers.",
            ),
            (
                "administrative transaction data",
                "We use administrative mobile money transaction records for {n} users.",
            ),
            (
                "a long-term follow-up of an experiment",
                "We revisit participants of an earlier randomised evaluation {k} years after the intervention.",
            ),
        ],
        "background": [
            "Poverty reduction remains a central goal of development policy.",
            "The use of {task} has expanded rapidly, but evidence on long-term effects is limited.",
        ],
        "gaps": [
            "Concerns remain about inflation and spillovers to non-recipients.",
            "Short-term effects may fade once programmes end.",
        ],
        "settings": [
            "Outcomes include consumption, assets, earnings, health and psychological well-being.",
            "We measure local price and wage effects to assess general equilibrium impacts.",
        ],
        "findings": [
            (
                (1,),
                "Access to credit increased business investment among existing entrepreneurs but had little effect on average household consumption.",
            ),
            (
                (0,),
                "Recipient households increased consumption and assets, with local multiplier effects of about {mult}.",
            ),
            ((0, 1), "Effects on earnings persisted years after the programme ended."),
            (
                (2,),
                "Access to mobile money increased savings and allowed households to smooth consumption after income shocks.",
            ),
            ((0,), "Price effects were small, and non-recipient households also benefited."),
        ],
        "implications": [
            "These results support cash transfers as a cost-effective tool for poverty reduction.",
            "We discuss implications for programme design and targeting.",
        ],
        "titles": [
            "{Task}: evidence from {method}",
            ((0,), "General equilibrium effects of {task}"),
            "Long-run impacts of {task}",
            ((1, 2), "{Task} and household welfare"),
            ((2,), "{Task} and financial inclusion"),
        ],
    },
    # ------------------------------------------------------------------ chemistry and materials
    {
        "genre": "chem",
        "pairs": [0, 2, 1],
        "tasks": [
            "electrochemical reduction of carbon dioxide",
            "green hydrogen production by water electrolysis",
            "single-atom catalysis",
        ],
        "methods": [
            (
                "copper-based electrocatalysts",
                "We synthesise copper electrocatalysts with controlled oxidation states and facet exposure.",
            ),
            (
                "operando spectroscopy",
                "We combine operando X-ray absorption and Raman spectroscopy to monitor catalyst structure under reaction conditions.",
            ),
            (
                "high-throughput computational screening",
                "We screen {n_small} candidate materials with density functional theory and validate the most promising experimentally.",
            ),
        ],
        "background": [
            "Converting renewable electricity into fuels and chemicals could help decarbonise industry.",
            "{Task} offers a route to sustainable chemical production, but catalysts with high activity, selectivity and stability are lacking.",
        ],
        "gaps": [
            "Catalyst surfaces reconstruct under operating conditions, obscuring structure-activity relationships.",
            "Noble-metal catalysts are too scarce and expensive for large-scale deployment.",
        ],
        "settings": [
            "Catalysts were tested in a flow electrolyser at industrially relevant current densities.",
            "Products were quantified by gas chromatography and nuclear magnetic resonance spectroscopy.",
        ],
        "findings": [
            (
                (1,),
                "The electrolyser sustains 1 ampere per square centimetre at a cell voltage below 1.9 volts.",
            ),
            (
                (0,),
                "Faradaic efficiency toward multi-carbon products reaches {pct_big} at 300 milliamperes per square centimetre.",
            ),
            "The catalyst operates stably for more than {hours} hours.",
            (
                (2,),
                "Isolated metal atoms remain atomically dispersed after prolonged operation, as confirmed by aberration-corrected electron microscopy.",
            ),
            ((0,), "Spectroscopy reveals that subsurface oxygen stabilises active sites."),
        ],
        "implications": [
            "These insights provide design principles for efficient electrocatalysts.",
            "The approach could be extended to other electrochemical transformations.",
        ],
        "titles": [
            "{Method} for {task}",
            ((0,), "Selective {task}"),
            ((2,), "Active sites in {task} identified by {method}"),
            "Stable and efficient {task}",
            ((1,), "Earth-abundant catalysts for {task}"),
        ],
    },
    {
        "genre": "orgchem",
        "pairs": [0, 1, 2],
        "tasks": [
            "photoredox catalysis for C-H functionalisation",
            "late-stage functionalisation of drug molecules",
            "asymmetric synthesis with earth-abundant metals",
        ],
        "methods": [
            (
                "dual photoredox and nickel catalysis",
                "We develop a dual catalytic system combining an organic photocatalyst with a nickel complex.",
            ),
            (
                "electrochemical synthesis",
                "We use electrochemistry to generate reactive intermediates under mild conditions without chemical oxidants.",
            ),
            (
                "chiral ligand design",
                "We design a new family of chiral ligands for iron-catalysed asymmetric transformations.",
            ),
        ],
        "background": [
            "Efficient methods to form carbon-carbon and carbon-heteroatom bonds are central to organic synthesis.",
            "{Task} can shorten synthetic routes to pharmaceuticals and agrochemicals.",
        ],
        "gaps": [
            "Many existing methods require precious metals, harsh conditions or pre-functionalised substrates.",
            "Controlling selectivity in complex molecules with many similar bonds remains difficult.",
        ],
        "settings": [
            "The scope was evaluated on {n_small} substrates including complex drug-like molecules.",
            "Mechanistic studies included kinetic isotope effects and computational modelling.",
        ],
        "findings": [
            "Products were obtained in up to {yield_} percent yield with excellent functional group tolerance.",
            (
                (2,),
                "Enantioselectivities exceeded {ee} percent enantiomeric excess for most substrates.",
            ),
            (
                (0, 1),
                "Mechanistic experiments support a radical pathway involving hydrogen atom transfer.",
            ),
        ],
        "implications": [
            "This method provides a practical tool for medicinal chemistry.",
            "The reaction can be performed on gram scale.",
        ],
        "titles": [
            "{Method} enables {task}",
            "{Task} via {method}",
            "Mild and selective {task}",
            "A general approach to {task}",
        ],
    },
    {
        "genre": "chem",
        "pairs": [0, 1, 2],
        "tasks": [
            "all-solid-state lithium metal batteries",
            "sodium-ion battery cathodes",
            "degradation of lithium-ion battery electrodes",
        ],
        "methods": [
            (
                "sulfide solid electrolytes",
                "We synthesise a sulfide solid electrolyte with high ionic conductivity and improved stability against lithium metal.",
            ),
            (
                "in situ transmission electron microscopy",
                "We use in situ transmission electron microscopy to observe electrode interfaces during cycling.",
            ),
            (
                "machine learning analysis of cycling data",
                "We train models on cycling data from {n_small} commercial cells to predict lifetime from early cycles.",
            ),
        ],
        "background": [
            "Batteries with higher energy density and longer lifetime are needed for electric vehicles and grid storage.",
            (
                (0,),
                "Replacing liquid electrolytes with solid ones is a promising route to safer, higher-energy batteries.",
            ),
            (
                (1,),
                "Sodium-ion batteries are an attractive low-cost alternative to lithium-ion chemistry for stationary storage.",
            ),
            (
                (2,),
                "Predicting how and when lithium-ion cells degrade is essential for warranties, second-life use and safe operation.",
            ),
        ],
        "gaps": [
            "Interfacial instability and dendrite growth limit cycle life.",
            "Degradation mechanisms are complex and difficult to observe under operating conditions.",
        ],
        "settings": [
            "Full cells were cycled at room temperature with practical areal loadings.",
            "Post-mortem analysis included X-ray photoelectron spectroscopy and tomography.",
        ],
        "findings": [
            (
                (0,),
                "The electrolyte reaches an ionic conductivity of {cond} millisiemens per centimetre at room temperature.",
            ),
            ((0, 1), "Cells retain {pct_big} of their capacity after {cycles} cycles."),
            ((2,), "Early-cycle features predict cell lifetime with an error below {pct_small}."),
        ],
        "implications": [
            "These results advance the development of practical solid-state batteries.",
            "Our approach could accelerate battery testing and qualification.",
        ],
        "titles": [
            "{Method} for {task}",
            ((0, 1), "Stable interfaces in {task}"),
            ((2,), "Predicting {task} from early cycling data"),
            "Understanding {task} with {method}",
            ((0, 1), "Long-life {task}"),
            ((2,), "Mechanisms of {task}"),
        ],
    },
    {
        "genre": "chem",
        "tasks": [
            "perovskite solar cells",
            "perovskite-silicon tandem photovoltaics",
            "large-area perovskite modules",
        ],
        "methods": [
            (
                "surface passivation",
                "We introduce a bifunctional molecular passivation layer that suppresses non-radiative recombination at grain boundaries and interfaces.",
            ),
            (
                "compositional engineering",
                "We tune the halide and cation composition of the perovskite to optimise bandgap and phase stability.",
            ),
            (
                "scalable blade coating",
                "We develop a blade-coating process with additive-controlled crystallisation that produces uniform perovskite films over areas of several hundred square centimetres.",
            ),
        ],
        "background": [
            "Metal halide perovskites have emerged as highly efficient, low-cost photovoltaic materials.",
            (
                (0, 1),
                "{Task} have reached power conversion efficiencies rivalling crystalline silicon.",
            ),
            (
                (2,),
                "Translating record laboratory efficiencies from small cells to large-area modules remains a major challenge.",
            ),
        ],
        "gaps": [
            "Poor long-term stability under heat, moisture and light remains the main barrier to commercialisation.",
            "Defects at interfaces limit open-circuit voltage.",
        ],
        "settings": [
            "Devices were fabricated by scalable solution processing, and efficiencies were independently certified.",
            "Encapsulated devices were subjected to damp heat, light soaking and thermal cycling following international testing protocols.",
        ],
        "findings": [
            (
                (0,),
                "Devices achieve a certified power conversion efficiency of {eff_single} percent.",
            ),
            ((1,), "Tandem devices reach a power conversion efficiency of {eff} percent."),
            (
                (2,),
                "Modules with an aperture area of {n_small} square centimetres reach an efficiency of {eff_module} percent.",
            ),
            "Encapsulated devices retain more than {pct_big} of their initial efficiency after {hours} hours of operation.",
            "Photoluminescence measurements show a marked reduction of trap density.",
        ],
        "implications": [
            "These results bring perovskite photovoltaics closer to commercial deployment.",
            "The passivation strategy is compatible with large-area manufacturing.",
        ],
        "titles": [
            "{Method} for efficient and durable {task}",
            "Improving the durability of {task} through {method}",
            "{Task}: the role of {method}",
            "Toward commercially viable {task} via {method}",
        ],
    },
    # ------------------------------------------------------------------ mathematics
    {
        "genre": "math",
        "tasks": [
            "Ramsey numbers",
            "the chromatic number of random graphs",
            "extremal problems for hypergraphs",
        ],
        "methods": [
            (
                "the container method",
                "We develop a new application of the hypergraph container method.",
            ),
            (
                "probabilistic constructions",
                "We give a probabilistic construction combined with an algebraic pseudorandom structure.",
            ),
            (
                "flag algebra computations",
                "We use flag algebra computations to obtain sharp bounds.",
            ),
        ],
        "background": [
            "Extremal combinatorics studies how large or small a discrete structure can be subject to given constraints.",
            "Questions about {task} have been studied for decades and remain notoriously difficult.",
        ],
        "gaps": [
            "The best known bounds differ by exponential factors.",
            ((2,), "Existing techniques appear to break down for larger uniformities."),
        ],
        "settings": [],
        "findings": [
            (
                (0,),
                "We prove an exponential improvement over the classical upper bound for diagonal Ramsey numbers.",
            ),
            (
                (1,),
                "We determine the chromatic number of sparse random graphs up to a constant factor.",
            ),
            (
                (2,),
                "We resolve a conjecture of Erdos on Turan densities in the case of three-uniform hypergraphs.",
            ),
        ],
        "implications": [
            "Our methods extend to several related problems.",
            "We also discuss open questions.",
        ],
        "titles": [
            "New bounds for {task}",
            "On {task}",
            "{Task} via {method}",
            "An improved upper bound for {task}",
        ],
    },
    {
        "genre": "math",
        "tasks": [
            "global regularity for the Navier-Stokes equations",
            "singularity formation in nonlinear wave equations",
            "stability of solitary waves",
        ],
        "methods": [
            (
                "energy methods",
                "Our approach relies on refined energy estimates.",
            ),
            (
                "modulation theory",
                "We use modulation theory together with a careful spectral analysis of the linearised operator.",
            ),
            (
                "computer-assisted proofs",
                "We combine analytic estimates with rigorous computer-assisted verification.",
            ),
        ],
        "background": [
            "Nonlinear partial differential equations model phenomena from fluid flow to optics.",
            "{Task} is a central problem in mathematical analysis.",
        ],
        "gaps": [
            "The question remains open in the critical regime.",
            "Known results require smallness assumptions on the initial data.",
        ],
        "settings": [],
        "findings": [
            (
                (0,),
                "We prove that smooth solutions of the Navier-Stokes equations exist globally for a class of large, highly oscillating initial data.",
            ),
            (
                (1,),
                "We construct solutions of the focusing nonlinear wave equation that blow up in finite time with an explicit rate.",
            ),
            ((2,), "We establish asymptotic stability of solitary waves in the energy space."),
        ],
        "implications": [
            ((1, 2), "The method applies to a broader class of dispersive equations."),
            "We discuss connections with numerical observations.",
        ],
        "titles": [
            "On {task}",
            "{Task}: {method}",
            "A remark on {task}",
            "{Task} via {method}",
        ],
    },
    {
        "genre": "math",
        "pairs": [0, 1, 2],
        "tasks": [
            "stochastic gradient methods for nonconvex optimisation",
            "randomised numerical linear algebra",
            "convergence of first-order methods",
        ],
        "methods": [
            (
                "variance reduction",
                "We introduce a variance-reduced stochastic gradient method with adaptive step sizes.",
            ),
            (
                "random sketching",
                "We analyse randomised sketching algorithms for low-rank approximation.",
            ),
            (
                "Lyapunov-function analysis",
                "We develop a unified Lyapunov-function analysis of accelerated methods.",
            ),
        ],
        "background": [
            "Optimisation algorithms are the workhorse of machine learning, statistics and scientific computing.",
            "Research on {task} has grown considerably, driven by large-scale applications.",
        ],
        "gaps": [
            "Existing guarantees are often pessimistic compared with observed performance.",
            "Theoretical results typically assume knowledge of problem constants.",
        ],
        "settings": [],
        "findings": [
            (
                (0,),
                "We prove convergence to stationary points at the optimal rate without prior knowledge of the smoothness constant.",
            ),
            (
                (1, 2),
                "We establish error bounds that match lower bounds up to logarithmic factors.",
            ),
            "Numerical experiments confirm the theory.",
        ],
        "implications": [
            "Our results clarify when acceleration is possible.",
            "Code is available.",
        ],
        "titles": [
            "{Method} for {task}",
            "Optimal rates for {task}",
            "{Task} via {method}",
            "A unified analysis of {task}",
        ],
    },
]

# ---------------------------------------------------------------------------------------------
# Genre-level sentences that connect the topic blocks.
# ---------------------------------------------------------------------------------------------

ML_EVAL = [
    "Our approach improves {metric} by {pp} points on average over the strongest baseline.",
    "Across all benchmarks the method outperforms prior work on {metric}, with gains of up to {pp} points.",
    "It sets a new state of the art in {metric} on {k_small} of the {k} evaluated settings and is competitive on the rest.",
    "Compared with strong task-specific baselines, it improves {metric} by {pp} points while inference remains fast.",
]

EXTRAS = {
    "ml": [
        "Ablation studies attribute most of the gain to the proposed training objective rather than to additional parameters.",
        "The method adds little computational overhead at inference time.",
        "Error analysis shows that the remaining failures concentrate on rare and ambiguous inputs.",
        "The approach is robust to moderate distribution shift, although a gap remains on the hardest out-of-domain split.",
        "Code, trained models and evaluation scripts are publicly available.",
        "Gains persist across model sizes, suggesting that they are complementary to scaling.",
    ],
    "bio": [
        "Key observations were reproduced in independent cohorts and experimental systems.",
        "All sequencing data and analysis code are openly available.",
        "Results were robust to alternative analytical choices and stringent quality control.",
        "Together, these data constitute a resource for the community.",
    ],
    "clinical": [
        "Results were consistent across prespecified subgroups defined by age, sex and baseline risk.",
        "Sensitivity analyses accounting for competing risks and missing data yielded similar estimates.",
        "No new safety signals were identified.",
        "Adherence to the allocated strategy was high in both groups.",
    ],
    "physics": [
        "The measurements agree with theoretical expectations within experimental uncertainties.",
        "Systematic uncertainties are evaluated with dedicated calibration runs and simulations.",
        "A simple phenomenological model captures the main features of the data.",
    ],
    "astro": [
        "Our conclusions are robust to the choice of priors and to the treatment of instrumental systematics.",
        "All reduced data products are made publicly available.",
        "We compare our results with previous measurements and find good agreement where they overlap.",
    ],
    "earth": [
        "Results are robust across observational datasets and model versions.",
        "Uncertainties are dominated by internal variability rather than by differences between models.",
        "We provide the processed data and code to facilitate further analysis.",
    ],
    "geo": [
        "Results are robust to the choice of velocity model and detection threshold.",
        "The catalogue and processing codes are publicly available.",
        "We discuss the implications for earthquake forecasting.",
    ],
    "econ": [
        "Results are robust to alternative specifications and sample restrictions.",
        "We find no evidence that the results are driven by anticipation effects or concurrent policy changes.",
        "A simple model rationalises the estimates and allows us to quantify the welfare implications.",
    ],
    "chem": [
        "Materials were characterised by X-ray diffraction, electron microscopy and X-ray photoelectron spectroscopy.",
        "Density functional theory calculations rationalise the observed trends.",
        "The synthesis is simple, scalable and uses inexpensive precursors.",
    ],
    "orgchem": [
        "All new compounds were fully characterised by NMR spectroscopy and high-resolution mass spectrometry.",
        "The protocol tolerates air and moisture and uses commercially available reagents.",
        "Computational studies rationalise the observed selectivity.",
    ],
    "math": [
        "The proof is constructive and yields an efficient algorithm.",
        "Several open problems are discussed.",
        "Our argument is largely self-contained.",
    ],
}

# Extra sentences used only for the two or three very long abstracts (to exercise truncation).
LONG_EXTRAS = {
    "ml": [
        "We begin by formalising the problem and identifying three properties that a practical solution should satisfy: accuracy on in-domain data, robustness to shifts in the input distribution and predictable computational cost.",
        "Existing methods typically satisfy at most two of these properties, and we show through a series of controlled experiments that the trade-offs between them are not inherent but stem from specific design decisions.",
        "Our method is built from three components, each of which can be used independently: a data curation pipeline, a modified training objective and an inference-time procedure that allocates computation adaptively.",
        "The data curation pipeline removes near-duplicates, balances the distribution of examples across sources and filters out examples whose labels are inconsistent with a held-out validation model.",
        "The training objective combines the standard likelihood term with an auxiliary consistency term that encourages similar predictions for semantically equivalent inputs, and we derive a simple schedule for weighting the two terms.",
        "At inference time, the model estimates its own uncertainty and spends additional computation only on inputs for which the estimate exceeds a threshold chosen on the validation set.",
        "We conduct extensive experiments with several model families and sizes, different amounts of training data and a range of hyperparameter settings, reporting means and standard deviations over five random seeds.",
        "To ensure a fair comparison, all baselines are re-implemented in a common code base and tuned with the same budget of hyperparameter trials.",
        "Beyond aggregate metrics, we conduct a human evaluation in which trained annotators compare system outputs blindly, and their judgments agree well with the automatic metrics.",
        "We also analyse the behaviour of the method on subsets of the data stratified by difficulty, length and frequency of the underlying phenomena.",
        "The improvements are largest on the most difficult subsets, while performance on easy examples is essentially unchanged.",
        "We further study the sensitivity of the method to the amount of curated data and find that most of the benefit is obtained with a small fraction of it.",
        "Finally, we discuss limitations, including the reliance on a held-out validation model for filtering, the cost of the additional inference-time computation and the possibility that our benchmarks do not capture all relevant real-world conditions.",
        "We hope that the released resources will make it easier for others to build on and critically examine these results.",
    ],
    "clinical_methods": [
        "Eligible participants were identified through electronic screening of hospital and primary care records and were approached by trained research staff.",
        "Exclusion criteria included contraindications to the study interventions, a life expectancy of less than one year and participation in another interventional trial.",
        "Randomisation was performed centrally with a computer-generated sequence, stratified by site and baseline risk category, using permuted blocks of variable size.",
        "Participants and treating physicians were aware of group assignment, but outcome assessors and the statistical analysis team were not.",
        "The sample size was calculated to provide 90 percent power to detect a relative reduction of 20 percent in the primary outcome at a two-sided significance level of 0.05.",
        "The primary analysis followed the intention-to-treat principle, and a per-protocol analysis was performed as a sensitivity analysis.",
        "Hazard ratios were estimated with Cox proportional hazards models adjusted for the stratification variables, and the proportional hazards assumption was checked with Schoenfeld residuals.",
        "Missing covariate data were handled by multiple imputation with chained equations.",
        "Secondary outcomes included all-cause death, hospitalisation for heart failure, intracranial haemorrhage, quality of life measured with a validated questionnaire and the number of days alive and out of hospital.",
        "The trial was conducted at {k} hospitals and affiliated outpatient clinics, and all sites received standardised training in the study procedures before enrolment began.",
        "Follow-up visits took place at three and six months and every six months thereafter, supplemented by telephone contacts and linkage to national hospital discharge and death registries.",
        "Cost-effectiveness was assessed from a health-system perspective using resource use collected prospectively during follow-up.",
    ],
    "clinical_results": [
        "The median follow-up was {k_small} years, and fewer than two percent of participants were lost to follow-up.",
        "Baseline characteristics were well balanced between groups, with a mean age of {age} years, and {pct_big} of participants had at least one additional cardiovascular risk factor.",
        "Prespecified subgroup analyses by age, sex, kidney function, diabetes status and previous stroke showed no significant heterogeneity of treatment effect.",
        "Serious adverse events were reported in similar proportions of participants in each group, and no deaths were attributed to the study interventions.",
        "The number needed to treat to prevent one primary outcome event over {k_small} years was {nnt}.",
        "Findings were similar in the per-protocol population and after excluding participants who crossed over to the other strategy during the first year.",
        "Quality-of-life scores improved modestly in both groups, with no clinically meaningful difference between them at any time point.",
        "An independent data and safety monitoring board reviewed unblinded data at two prespecified interim analyses and recommended continuation of the trial on both occasions.",
    ],
    "clinical_closing": [
        "Limitations include the open-label design, the predominantly European study population and the inability to assess outcomes beyond the end of the trial period.",
        "Longer follow-up and studies in more diverse populations are needed to establish whether these benefits generalise.",
    ],
}

REGIONS = [
    "western Europe",
    "the Pacific Northwest of North America",
    "the Indian subcontinent",
    "southeastern Australia",
    "the Mediterranean basin",
    "East Africa",
]
SEISMIC_REGIONS = [
    "the southern San Andreas fault system",
    "the Cascadia subduction zone",
    "the Hikurangi margin of New Zealand",
    "the North Anatolian fault",
    "an oil and gas basin in the central United States",
]
STAR_TYPES = ["an M dwarf", "a K dwarf", "a Sun-like G-type"]


def numbers(rng: random.Random) -> dict[str, str]:
    """Random quantities for one record, all formatted as strings."""
    hr = rng.uniform(0.58, 0.88)
    lo = hr - rng.uniform(0.06, 0.14)
    hi = hr + rng.uniform(0.04, min(0.11, 0.98 - hr))
    k = rng.randint(5, 12)
    y0 = rng.randint(2001, 2012)
    return {
        "k": str(k),
        "k2": str(k + rng.randint(3, 20)),
        "k_small": str(rng.randint(2, 4)),
        "n": f"{rng.randint(1200, 250000):,}",
        "n_small": str(rng.randint(40, 480)),
        "n_trial": f"{rng.randint(300, 9000):,}",
        "mil": str(rng.randint(3, 250)),
        "bil": str(rng.randint(2, 60)),
        "pct": f"{rng.uniform(8, 45):.1f}%",
        "pct_big": f"{rng.randint(55, 92)}%",
        "pct_small": f"{rng.uniform(1.5, 9.5):.1f}%",
        "pp": f"{rng.uniform(0.8, 9.5):.1f}",
        "fold": f"{rng.uniform(1.6, 6.5):.1f}",
        "hr": f"{hr:.2f}",
        "ci": f"{lo:.2f} to {hi:.2f}",
        "y0": str(y0),
        "y1": str(y0 + rng.randint(8, 20)),
        "tm": str(rng.randint(72, 91)),
        "small_r": str(rng.randint(10, 19)),
        "qubits": str(rng.randint(49, 105)),
        "field": str(rng.randint(14, 45)),
        "lumi": str(rng.choice([138, 139, 140])),
        "mass": f"{rng.randint(900, 2800):,}",
        "re": f"{rng.choice([2000, 5200, 8000, 10000]):,}",
        "stype": rng.choice(STAR_TYPES),
        "dist": str(rng.randint(12, 190)),
        "sigma": f"{rng.uniform(3.1, 7.8):.1f}",
        "region": rng.choice(REGIONS),
        "seis_region": rng.choice(SEISMIC_REGIONS),
        "km": rng.choice(["2", "2.2", "3", "4"]),
        "mult": f"{rng.uniform(1.5, 2.7):.1f}",
        "hours": f"{rng.choice([500, 1000, 1200, 2000]):,}",
        "yield_": str(rng.randint(72, 96)),
        "ee": str(rng.randint(90, 99)),
        "cond": f"{rng.uniform(5, 25):.1f}",
        "cycles": f"{rng.choice([500, 800, 1000, 1500]):,}",
        "eff": f"{rng.uniform(28.5, 33.9):.1f}",
        "eff_single": f"{rng.uniform(24.0, 26.5):.1f}",
        "eff_module": f"{rng.uniform(18.0, 22.5):.1f}",
        "age": str(rng.randint(68, 79)),
        "nnt": str(rng.randint(18, 60)),
    }


def usable(pool: list, task_idx: int) -> list[str]:
    """The entries of pool that fit a paper on task task_idx (untagged entries always fit)."""
    return [
        e if isinstance(e, str) else e[1] for e in pool if isinstance(e, str) or task_idx in e[0]
    ]


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def fill(template: str, slots: dict[str, str]) -> str:
    return cap(template.format_map(slots))


def pick(rng: random.Random, pool: list[str], lo: int, hi: int) -> list[str]:
    """Between lo and hi distinct items of pool, in pool order (keeps the narrative order)."""
    count = min(len(pool), rng.randint(lo, hi))
    chosen = sorted(rng.sample(range(len(pool)), count))
    return [pool[i] for i in chosen]


def compose_abstract(
    topic: dict, task_idx: int, method_sentence: str, slots: dict, rng: random.Random, long: bool
) -> str:
    genre = topic["genre"]
    background_pool = usable(topic["background"], task_idx)
    gaps_pool = usable(topic["gaps"], task_idx)
    settings_pool = usable(topic["settings"], task_idx)
    findings_pool = usable(topic["findings"], task_idx)
    implications_pool = usable(topic["implications"], task_idx)
    if long and genre == "clinical":
        # Structured abstract with the design and conduct of the study spelled out.
        sections = [
            ("Background", background_pool + gaps_pool),
            ("Methods", [method_sentence, *settings_pool, *LONG_EXTRAS["clinical_methods"]]),
            ("Results", findings_pool + LONG_EXTRAS["clinical_results"] + EXTRAS[genre]),
            ("Conclusions", implications_pool + LONG_EXTRAS["clinical_closing"]),
        ]
        return " ".join(
            f"{name}: " + " ".join(fill(s, slots) for s in sents) for name, sents in sections
        )
    if long:
        detail = LONG_EXTRAS[genre]
        parts = (
            background_pool
            + gaps_pool
            + detail[:2]
            + [method_sentence]
            + detail[2:6]
            + settings_pool
            + detail[6:9]
            + [rng.choice(ML_EVAL)]
            + findings_pool
            + detail[9:12]
            + EXTRAS[genre]
            + detail[12:]
            + implications_pool
        )
        return " ".join(fill(s, slots) for s in parts)

    background = pick(rng, background_pool, 1, 2)
    gap = pick(rng, gaps_pool, 0 if rng.random() < 0.2 else 1, 1)
    settings = pick(rng, settings_pool, 0, 2)
    findings = pick(rng, findings_pool, 1, 3)
    extras = pick(rng, EXTRAS[genre], 0, 2)
    implications = pick(rng, implications_pool, 0 if rng.random() < 0.3 else 1, 2)
    evaluation = [rng.choice(ML_EVAL)] if genre == "ml" else []

    if genre == "clinical" and rng.random() < 0.6:
        sections = [
            ("Background", background + gap),
            ("Methods", [method_sentence, *settings]),
            ("Results", findings + extras),
            ("Conclusions", implications or implications_pool[:1] or topic["implications"][-1:]),
        ]
        return " ".join(
            f"{name}: " + " ".join(fill(s, slots) for s in sents) for name, sents in sections
        )
    if genre == "math":
        # Mathematics abstracts tend to state the result first and are short.
        parts = [*findings[:1], method_sentence, *background[:1], *gap, *extras[:1], *implications]
    else:
        parts = [
            *background,
            *gap,
            method_sentence,
            *settings,
            *evaluation,
            *findings,
            *extras,
            *implications,
        ]
    return " ".join(fill(s, slots) for s in parts)


# ---------------------------------------------------------------------------------------------
# A few hand-written records with non-ASCII text (accents, Greek letters, em dashes, CJK).
# ---------------------------------------------------------------------------------------------

HANDWRITTEN = [
    {
        "title": "Amyloid-β oligomers accelerate α-synuclein seeding in human cortical organoids",
        "abstract": (
            "Mixed pathology is the rule rather than the exception in ageing brains: many people with "
            "Alzheimer's disease also carry Lewy bodies rich in α-synuclein. Whether amyloid-β actively "
            "promotes α-synuclein aggregation, or the two simply co-occur, is unresolved. Here we expose "
            "cortical organoids derived from induced pluripotent stem cells to soluble amyloid-β "
            "oligomers and then seed them with pre-formed α-synuclein fibrils. Oligomer pre-treatment "
            "shortened the lag phase of intracellular aggregation roughly threefold and increased the "
            "fraction of neurons containing phosphorylated inclusions. The effect required neuronal "
            "activity and was abolished by blocking the release of extracellular vesicles. "
            "Proteomic profiling of the inclusions revealed enrichment of lysosomal and synaptic "
            "vesicle proteins — a signature shared with post-mortem tissue from patients with mixed "
            "pathology. These findings suggest that amyloid-β can act upstream of α-synuclein and "
            "motivate combination therapies that target both proteins."
        ),
    },
    {
        "title": "Character-aware subword tokenisation for Chinese word segmentation (中文分词) in scientific text",
        "abstract": (
            "Chinese is written without spaces between words, so word segmentation (中文分词) is usually "
            "the first step of any processing pipeline. Segmenters trained on news text perform poorly "
            "on scientific writing, where technical compounds, Latin-script abbreviations and chemical "
            "names are frequent. We propose a character-aware tokeniser that learns a subword vocabulary "
            "jointly with a segmentation model and can fall back to character-level decisions for unseen "
            "terms. On a new corpus of 3,200 manually segmented sentences from Chinese-language journals "
            "in medicine, materials science and agronomy, the method improves out-of-vocabulary recall "
            "by 11 points over a strong BiLSTM-CRF baseline. Downstream, better segmentation improves "
            "keyword extraction and cross-lingual retrieval of the same papers from English queries. "
            "We release the corpus and the tokeniser."
        ),
    },
    {
        "title": "Sharp Poincaré inequalities and the spectral gap of Schrödinger operators on thin domains",
        "abstract": (
            "We study Schrödinger operators −Δ + V on domains that shrink in one direction and ask how "
            "the spectral gap depends on the geometry of the cross-section. Using a refined Poincaré "
            "inequality with an explicit constant, we show that the gap converges to that of an "
            "effective one-dimensional operator whose potential encodes the curvature of the domain, and "
            "we identify the next term in the asymptotic expansion. For convex domains the constant is "
            "optimal — it is attained in the limit by a sequence of thinning ellipses. As an application "
            "we obtain lower bounds for the lowest eigenvalue of the Neumann Laplacian on tubular "
            "neighbourhoods of curves, answering a question left open in earlier work."
        ),
    },
    {
        "title": "Urban heat islands in São Paulo and Bogotá: how altitude and green cover shape nocturnal warming",
        "abstract": (
            "Cities in the tropics are warming faster than their rural surroundings, yet most studies "
            "of urban heat islands concern temperate cities. We combine a dense network of low-cost "
            "temperature sensors with satellite land-surface temperature to compare São Paulo, a "
            "sprawling city at about 760 metres, with Bogotá, a high-altitude city at about 2,600 "
            "metres. In both cities the heat island is strongest at night, reaching 4–6 °C in the dense "
            "core during the dry season. Green cover within 500 metres of a sensor reduced nocturnal "
            "excess temperature by about 0.8 °C per 10 percentage points of canopy, while building "
            "height had a weaker, altitude-dependent effect. These results suggest that street trees "
            "and small parks are an effective adaptation measure for tropical cities — including those "
            "whose altitude currently protects them from extreme heat."
        ),
    },
]

# ---------------------------------------------------------------------------------------------
# Search queries: most match one or more topics above; the last two match nothing on purpose.
# ---------------------------------------------------------------------------------------------

QUERIES = [
    "protein structure prediction",
    "galaxy rotation curves dark matter",
    "clinical named entity recognition",
    "low-resource machine translation",
    "retrieval-augmented generation hallucination",
    "scientific paper embeddings citation",
    "neural radiance fields novel view synthesis",
    "tumour segmentation CT deep learning",
    "lidar 3D object detection autonomous driving",
    "graph neural networks molecular properties",
    "robot manipulation diffusion policy",
    "federated learning differential privacy",
    "probabilistic electricity load forecasting",
    "single-cell RNA sequencing atlas",
    "CRISPR base editing liver disease",
    "gut microbiome antibiotics infants",
    "drought tolerance crop roots",
    "pollinator decline farmland",
    "carbapenem resistance plasmids hospital",
    "hippocampal replay memory consolidation",
    "resting-state fMRI depression",
    "alpha-synuclein Parkinson's disease",
    "anticoagulation atrial fibrillation stroke",
    "immunotherapy non-small-cell lung cancer",
    "influenza vaccine effectiveness older adults",
    "surface code logical qubit",
    "twisted bilayer graphene superconductivity",
    "Higgs boson LHC search",
    "wall-bounded turbulence simulation",
    "JWST exoplanet atmosphere spectrum",
    "binary black hole mergers",
    "heatwave attribution climate change",
    "Arctic sea ice thickness",
    "foreshocks before large earthquakes",
    "minimum wage employment effects",
    "cash transfers poverty villages",
    "CO2 electroreduction copper catalyst",
    "perovskite solar cell stability",
    "medieval manuscript dating",
    "volcanic ash aviation hazard",
]


def make_records(rng: random.Random) -> list[dict]:
    long_tasks = {
        "retrieval-augmented question answering",
        "tumour segmentation in abdominal CT",
        "anticoagulation in atrial fibrillation",
    }
    records: list[dict] = []
    seen_titles: set[str] = set()
    for topic in TOPICS:
        n_tasks, n_methods = len(topic["tasks"]), len(topic["methods"])
        task_order = rng.sample(range(n_tasks), n_tasks)
        method_order = rng.sample(range(n_methods), n_methods)
        for j in range(PER_TOPIC):
            slots = numbers(rng)
            for _ in range(200):
                if "pairs" in topic:
                    task_idx = task_order[(j + rng.randint(0, 1) * (j // n_tasks)) % n_tasks]
                    paired = topic["pairs"][task_idx]
                    method_idx = paired if isinstance(paired, int) else rng.choice(paired)
                else:
                    task_idx = rng.randrange(n_tasks)
                    method_idx = method_order[j % n_methods]
                method_title, method_sentence = topic["methods"][method_idx]
                task = topic["tasks"][task_idx]
                title_slots = {
                    **slots,
                    "task": task,
                    "Task": cap(task),
                    "method": method_title,
                    "Method": cap(method_title),
                }
                title = fill(rng.choice(usable(topic["titles"], task_idx)), title_slots)
                if title not in seen_titles:
                    break
            else:
                raise RuntimeError(f"could not find a fresh title for {topic['tasks'][0]}")
            seen_titles.add(title)
            title_slots["metric"] = rng.choice(usable(topic.get("metrics", ["accuracy"]), task_idx))
            # The first paper of each long-abstract topic gets a very long abstract.
            long = j == 0 and topic["tasks"][0] in long_tasks
            if long and "pairs" in topic:
                # Use the randomised trial, since the long text describes one in detail.
                task_idx = next(
                    t
                    for t, m in enumerate(topic["pairs"])
                    if "randomised" in topic["methods"][m][1]
                )
                method_title, method_sentence = topic["methods"][topic["pairs"][task_idx]]
                task = topic["tasks"][task_idx]
                title_slots.update(
                    task=task, Task=cap(task), method=method_title, Method=cap(method_title)
                )
                title = fill("{Task} in older adults: {method}", title_slots)
                seen_titles.add(title)
            abstract = compose_abstract(topic, task_idx, method_sentence, title_slots, rng, long)
            records.append({"title": title, "abstract": abstract, "long": long})
    for hand in HANDWRITTEN:
        records.append({**hand, "long": False, "special": True})

    rng.shuffle(records)

    # Title-only records, as found in real dumps: some with "", some with null abstracts.
    plain = [i for i, r in enumerate(records) if not r["long"] and not r.get("special")]
    chosen = rng.sample(plain, N_EMPTY_ABSTRACT + N_NULL_ABSTRACT)
    for i in chosen[:N_EMPTY_ABSTRACT]:
        records[i]["abstract"] = ""
    for i in chosen[N_EMPTY_ABSTRACT:]:
        records[i]["abstract"] = None

    next_id = 2401000
    out = []
    for rec in records:
        next_id += rng.randint(1, 40)
        out.append({"id": next_id, "title": rec["title"], "abstract": rec["abstract"]})
    return out


def write_outputs(records: list[dict]) -> None:
    with open(OUT_DIR / "papers.jsonl", "w", encoding="utf-8", newline="\n") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")

    schema = pa.schema(
        [
            pa.field("id", pa.int64(), nullable=False),
            pa.field("title", pa.string(), nullable=False),
            pa.field("abstract", pa.string(), nullable=True),
        ]
    )
    table = pa.Table.from_pylist(records, schema=schema)
    pq.write_table(table, OUT_DIR / "papers.parquet", row_group_size=ROW_GROUP_SIZE)

    with open(OUT_DIR / "queries.jsonl", "w", encoding="utf-8", newline="\n") as f:
        for i, query in enumerate(QUERIES, start=1):
            f.write(json.dumps({"id": f"q{i:02d}", "query": query}, ensure_ascii=False) + "\n")


def main() -> None:
    rng = random.Random(SEED)
    records = make_records(rng)
    write_outputs(records)
    words = [len(r["abstract"].split()) for r in records if r["abstract"]]
    print(
        f"wrote {len(records)} papers ({sum(w > 600 for w in words)} with >600-word abstracts), "
        f"{len(QUERIES)} queries to {OUT_DIR}"
    )


if __name__ == "__main__":
    main()
