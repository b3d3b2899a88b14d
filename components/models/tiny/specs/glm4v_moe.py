from dataclasses import replace

from components.models.tiny.specs.glm4v import TINY as GLM4V

# GLM-4.5V: the shrunk MoE defaults (4 routed experts, top-2, one shared expert, a dense first layer) and the thinking
# template (an empty `<think></think>` opens every assistant turn with thinking off).
TINY = replace(GLM4V, config_class="Glm4vMoeConfig", template="glm45v")
