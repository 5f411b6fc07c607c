import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'demo-store',
    include: ['src/**/*.test.ts'],
  },
});
