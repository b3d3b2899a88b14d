from dataclasses import replace

from components.models.tiny.specs.glm4v import TINY as GLM4V

# GLM-4.6V: GLM-4.1V's architecture with GLM-4.5V's thinking template.
TINY = replace(GLM4V, config_class="Glm46VConfig", processor="Glm46VProcessor", template="glm45v")
