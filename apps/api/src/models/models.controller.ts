import { Controller, Get, Param } from '@nestjs/common';
import { AppConfig } from '@ratchet/config';
import { RatchetError } from '@ratchet/core';

interface ModelObject {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

/** The models of the config file, in OpenAI's model list shape. */
@Controller('v1/models')
export class ModelsController {
  private readonly models: ModelObject[];

  constructor(config: AppConfig) {
    const created = Math.floor(Date.now() / 1000);
    this.models = Object.entries(config.config.models).map(([id, model]) => ({
      id,
      object: 'model',
      created,
      owned_by: model.provider,
    }));
  }

  @Get()
  list(): { object: 'list'; data: ModelObject[] } {
    return { object: 'list', data: this.models };
  }

  @Get(':id')
  get(@Param('id') id: string): ModelObject {
    const model = this.models.find((candidate) => candidate.id === id);
    if (!model) {
      throw new RatchetError('not_found', `The model '${id}' does not exist.`, {
        param: 'model',
        code: 'model_not_found',
      });
    }
    return model;
  }
}
